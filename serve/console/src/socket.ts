// Gateway client: authenticate, subscribe, heartbeat, reconnect with full-jitter backoff,
// resume event streams from the last seq held, report gaps. One socket per page.
import { session } from "./api";
import type { ChannelSpec, WsServerMessage } from "./generated/ws";
import { dispatch } from "./handlers";
import { sessionExpired } from "./notify";

export type State = "idle" | "connecting" | "live" | "retrying";
const BASE_MS = 250;
const CAP_MS = 8000;

class Gateway {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: number | undefined;
  private wanted = new Map<string, ChannelSpec>();
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
    if (this.state === "live") this.send({ type: "subscribe", channels: [spec], resume: {} });
    else this.connect();
  }

  stop(): void {
    window.clearTimeout(this.timer);
    this.wanted.clear();
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
      if (this.wanted.size && session.get()) this.retry(e.reason);
      else this.set("idle");
    };
  }

  private retry(reason: string): void {
    // full jitter; a server-sent retry_after_s (1012/1013) widens the window
    const hinted = /retry_after_s=([\d.]+)/.exec(reason);
    const cap = Math.min(CAP_MS, BASE_MS * 2 ** this.attempt);
    const window_ = hinted ? Math.max(cap, Number(hinted[1]) * 1000) : cap;
    this.attempt += 1;
    this.set("retrying");
    this.timer = window.setTimeout(() => this.connect(), Math.random() * window_);
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
