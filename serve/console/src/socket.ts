// Gateway client: authenticate, subscribe, heartbeat, reconnect with full-jitter backoff,
// resume event streams from the last seq held, report gaps. One socket per page.
import { session } from "./api";
import type { ChannelSpec, WsServerMessage } from "./generated/ws";
import { dispatch } from "./handlers";
import { sessionExpired } from "./notify";

export type State = "idle" | "connecting" | "live" | "retrying";
const BASE_MS = 250;
const CAP_MS = 8000;
/** the gateway's close for a channel this user may not read, or over the plan's symbols */
const FORBIDDEN = 4403;

export interface Wait { window: number; delay: number }

/** The wait before reconnect number `attempt + 1`: the window doubles from BASE_MS up to
 * CAP_MS (a server-sent `retry_after_s`, 1012/1013, widens it), and the delay is uniform
 * in it ("full jitter"), so the pages a gateway restart drops do not come back in step. */
export function backoff(attempt: number, reason: string, random: () => number = Math.random): Wait {
  const hinted = /retry_after_s=([\d.]+)/.exec(reason);
  const cap = Math.min(CAP_MS, BASE_MS * 2 ** attempt);
  const window_ = hinted ? Math.max(cap, Number(hinted[1]) * 1000) : cap;
  return { window: window_, delay: random() * window_ };
}

class Gateway {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: number | undefined;
  private wanted = new Map<string, ChannelSpec>();
  /** the subscription the gateway has not confirmed yet: the one a 4403 refuses */
  private newest: string | null = null;
  /** the last reconnect waits (for the browser tests: growth and jitter) */
  readonly waits: Wait[] = [];
  /** last seq seen per event stream (resume points) and per market stream (gap check) */
  readonly seqs = new Map<string, number>();
  state: State = "idle";
  /** sockets authenticated so far (1 + reconnects) */
  connects = 0;
  onState: (s: State) => void = () => {};

  url(): string {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}/ws`;
  }

  subscribe(spec: ChannelSpec): void {
    const key = JSON.stringify(spec);
    if (this.wanted.has(key)) return;
    this.wanted.set(key, spec);
    this.newest = key;
    if (this.state === "live") this.send({ type: "subscribe", channels: [spec], resume: {} });
    else this.connect();
  }

  stop(): void {
    window.clearTimeout(this.timer);
    this.wanted.clear();
    this.newest = null;
    this.seqs.clear();
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000);
    this.set("idle");
  }

  connect(): void {
    if (this.ws || !session.get()) return;
    window.clearTimeout(this.timer);
    this.set("connecting");
    const ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => this.send({ type: "authenticate", token: session.get()?.access_token ?? "" });
    ws.onmessage = (e) => {
      const data = JSON.parse(String(e.data)) as WsServerMessage | WsServerMessage[];
      for (const m of Array.isArray(data) ? data : [data]) this.receive(m);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (e.code === 4401 && session.get()) return sessionExpired();
      if (e.code === FORBIDDEN && !this.refused()) return this.set("idle");
      if (this.wanted.size && session.get()) this.retry(e.reason);
      else this.set("idle");
    };
  }

  /** A 4403 is no passing fault: the same subscribe would be refused on every reconnect.
   * Drop the subscription it refused (the error message before the close says why) and
   * keep the others; false when there is none to drop (then stop instead of looping). */
  private refused(): boolean {
    const key = this.newest;
    this.newest = null;
    return key !== null && this.wanted.delete(key);
  }

  private retry(reason: string): void {
    const wait = backoff(this.attempt, reason);
    this.waits.push(wait);
    if (this.waits.length > 20) this.waits.shift();
    this.attempt += 1;
    this.set("retrying");
    this.timer = window.setTimeout(() => this.connect(), wait.delay);
  }

  private receive(m: WsServerMessage): void {
    if (m.type === "authenticated") {
      this.attempt = 0;
      const resume: Record<string, number> = {};
      for (const [stream, seq] of this.seqs) if (!stream.startsWith("market:")) resume[stream] = seq;
      this.connects += 1;
      this.send({ type: "subscribe", channels: [...this.wanted.values()], resume });
      this.set("live");
    }
    if (m.type === "subscribed") this.newest = null;
    dispatch(m);
  }

  send(message: object): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  private set(s: State): void {
    this.state = s;
    this.onState(s);
  }
}

export const gateway = new Gateway();
