// REST client: same origin as the page, tokens in sessionStorage, problems as Problem.
import type { components } from "./generated/api";

export type Schemas = components["schemas"];
export type TokenPair = Schemas["TokenPairPublic"];

export interface FieldError { field: string; rule: string; message: string }
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    readonly title: string,
    readonly detail: string,
    readonly body: Record<string, unknown>,
  ) {
    super(detail || title);
  }
  get errors(): FieldError[] {
    return (this.body.errors as FieldError[] | undefined) ?? [];
  }
}

const KEY = "elson.tokens";
type Listener = () => void;
const listeners: Listener[] = [];

export const session = {
  get(): TokenPair | null {
    const raw = sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as TokenPair) : null;
  },
  set(t: TokenPair | null): void {
    if (t) sessionStorage.setItem(KEY, JSON.stringify(t));
    else sessionStorage.removeItem(KEY);
    listeners.forEach((l) => l());
  },
  onChange(l: Listener): void {
    listeners.push(l);
  },
};

/** The API's base: the page's own origin (the console is served by the API). */
export const apiBase = (): string => window.location.origin;

async function toProblem(res: Response): Promise<Problem> {
  let body: Record<string, unknown> = {};
  try {
    body = (await res.json()) as Record<string, unknown>;
  } catch {
    /* not JSON */
  }
  const type = String(body.type ?? "about:blank");
  const kind = type.split("/").filter(Boolean).pop() ?? "unknown";
  return new Problem(res.status, kind, String(body.title ?? res.statusText), String(body.detail ?? ""), body);
}

let refreshing: Promise<boolean> | null = null;
async function refresh(): Promise<boolean> {
  const t = session.get();
  if (!t) return false;
  const res = await fetch(apiBase() + "/v1/auth/refresh", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ refresh_token: t.refresh_token }),
  });
  if (!res.ok) return false;
  session.set((await res.json()) as TokenPair);
  return true;
}

export async function request<T>(method: string, path: string, body?: unknown, retry = true): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json" };
  const t = session.get();
  if (t) headers.authorization = `Bearer ${t.access_token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(apiBase() + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401 && t && retry && !path.startsWith("/v1/auth/")) {
    refreshing ??= refresh().finally(() => (refreshing = null));
    if (await refreshing) return request<T>(method, path, body, false);
  }
  if (!res.ok) throw await toProblem(res);
  if (res.status === 204) return undefined as T;
  const kind = res.headers.get("content-type") ?? "";
  if (kind.startsWith("image/")) return (await res.blob()) as T; // a heatmap PNG
  return (kind.includes("json") ? await res.json() : await res.text()) as T;
}

export const api = {
  get: <T>(p: string) => request<T>("GET", p),
  post: <T>(p: string, b?: unknown) => request<T>("POST", p, b ?? {}),
  patch: <T>(p: string, b: unknown) => request<T>("PATCH", p, b),
  put: <T>(p: string, b: unknown) => request<T>("PUT", p, b),
  del: <T>(p: string) => request<T>("DELETE", p),
};
