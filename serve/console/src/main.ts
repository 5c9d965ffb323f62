// Console entry: hash routes, the nav, the gateway's state badge.
import { api, session } from "./api";
import { bus } from "./bus";
import { report } from "./notify";
import { backoff, gateway } from "./socket";
import { accountView } from "./views/account";
import { loginView, logout, registerView, sessionsView } from "./views/auth";
import { jobsView } from "./views/jobs";
import { ordersView } from "./views/orders";
import { quotesView } from "./views/quotes";
import { riskView } from "./views/risk";

type View = (root: HTMLElement, account: string) => unknown;
const PUBLIC: Record<string, View> = { login: loginView, register: registerView };
const PRIVATE: Record<string, View> = {
  account: accountView, quotes: quotesView, orders: ordersView, risk: riskView, jobs: jobsView, sessions: sessionsView,
};
let account = "";
let role = "";
let cleanup: (() => void) | null = null;

bus.on("ping", (m: { id: number }) => gateway.send({ type: "pong", id: m.id }));
bus.on("seq", (p: { stream: string; seq: number }) => gateway.seqs.set(p.stream, p.seq));
bus.on("position", (p: { stream: string; seq: number }) => {
  if (!gateway.seqs.has(p.stream)) gateway.seqs.set(p.stream, p.seq);
});
gateway.onState = (s) => {
  const el = document.getElementById("ws-state")!;
  el.dataset.state = s;
  el.textContent = s === "live" ? "live" : s;
};

function nav(): void {
  const here = location.hash.replace("#/", "") || "account";
  const views = Object.keys(PRIVATE).filter((n) => n !== "jobs" || role === "quant" || role === "admin");
  const items = session.get() ? [...views, "logout"] : Object.keys(PUBLIC);
  document.getElementById("nav")!.innerHTML = items
    .map((n) => `<a href="#/${n}" ${n === here ? 'aria-current="page"' : ""}>${n}</a>`).join("");
}

async function ensureAccount(): Promise<string> {
  if (!account) {
    role = (await api.get<{ role: string }>("/v1/users/me")).role;
    nav();
    const list = await api.get<{ id: string }[]>("/v1/accounts");
    account = list[0]?.id ?? "";
    if (account) gateway.subscribe({ channel: "orders", account_id: account });
  }
  return account;
}

async function route(): Promise<void> {
  const name = location.hash.replace("#/", "") || (session.get() ? "account" : "login");
  cleanup?.();
  cleanup = null;
  const root = document.getElementById("view")!;
  root.replaceChildren();
  nav();
  if (name === "logout") return logout();
  if (!session.get() || PUBLIC[name]) {
    if (!PUBLIC[name]) return void (location.hash = "#/login");
    return void PUBLIC[name](root, "");
  }
  try {
    const out = await (PRIVATE[name] ?? accountView)(root, await ensureAccount());
    if (typeof out === "function") cleanup = out as () => void;
  } catch (err) {
    report(err);
  }
}

session.onChange(() => {
  if (!session.get()) {
    account = "";
    role = "";
    gateway.stop();
    document.getElementById("notices")!.replaceChildren();
  }
  nav();
});
window.addEventListener("hashchange", () => void route());
void route();
// for the browser tests: the socket (reconnect count, waits) and its backoff rule
Object.assign(window, { elson: { gateway, backoff } });
