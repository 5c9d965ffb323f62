// One handler per WebSocket message type (keys: serve.gateway_schemas.SERVER_MODELS;
// tests/unit/serve/test_console_types.py checks this table against that list).
import type {
  ErrorMessage, FeedEventMessage, GapMessage, JobEventMessage, MarketMessage, MarketStatus,
  OrderEventMessage, Ping, RiskEventMessage, StrategyEventMessage, Subscribed, Warning_,
  WsServerMessage,
} from "./generated/ws";
import { notice } from "./notify";
import { bus } from "./bus";
import { WS_SERVER_MESSAGE_KEYS } from "./generated/rules";

type Handler = (m: never) => void;
type Key = (typeof WS_SERVER_MESSAGE_KEYS)[number];

/** A message type added to the gateway makes this table fail to compile until handled. */
export const handlers: Record<Key, Handler> = {
  "authenticated": () => {},
  "subscribed": (m: Subscribed) => {
    for (const c of m.channels) if (c.stream && c.seq != null) bus.emit("position", { stream: c.stream, seq: c.seq });
  },
  "unsubscribed": () => {},
  "event.orders": (m: OrderEventMessage) => bus.emit("orders", m),
  "event.feed": (m: FeedEventMessage) => notice("info", `Feed switched: ${JSON.stringify(m.data)}`),
  "event.jobs": (m: JobEventMessage) => bus.emit("jobs", m),
  "event.strategies": (m: StrategyEventMessage) => {
    if (m.data.action === "refused" || m.data.action === "flagged")
      notice("info", `Strategy ${m.data.instance_id}: ${m.data.action} ${(m.data.failed ?? []).join(", ")}`);
    bus.emit("strategies", m);
  },
  "event.risk": (m: RiskEventMessage) => bus.emit("risk", m),
  "market": (m: MarketMessage) => bus.emit("market", m),
  "gap": (m: GapMessage) => {
    notice("gap", `Missed ${m.stream} ${m.from_seq}..${m.to_seq}`);
    bus.emit("gap", m);
  },
  "warning": (m: Warning_) => notice("warning", `Gateway: ${m.detail}`),
  "error": (m: ErrorMessage) => {
    if (m.close_code !== 1012 && m.close_code !== 1013) notice(m.code, `Gateway: ${m.detail}`);
  },
  "ping": (m: Ping) => bus.emit("ping", m),
  "market_status": (m: MarketStatus) =>
    notice("info", `Market ${m.phase.replace("_", " ")}: next open ${m.next_open}`),
};

export function keyOf(m: WsServerMessage): string {
  if (m.type === "event") {
    // strategy changes share their owner's jobs stream; the event name tells them apart
    if (m.event.startsWith("strategy_")) return "event.strategies";
    return `event.${m.stream.split(":")[0]}`;
  }
  return m.type;
}

export function dispatch(m: WsServerMessage): void {
  if ("stream" in m && m.type === "event") bus.emit("seq", { stream: m.stream, seq: m.seq });
  const h = handlers[keyOf(m) as Key];
  if (h) (h as (m: WsServerMessage) => void)(m);
  else notice("warning", `Unhandled message ${keyOf(m)}`);
}
