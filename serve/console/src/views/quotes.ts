// Live quote board over the gateway: survives reconnects, shows gaps in a symbol's seq.
import { bus } from "../bus";
import type { MarketMessage } from "../generated/ws";
import { gateway } from "../socket";
import { esc, html } from "../ui";

const board = new Map<string, { bid: string; ask: string; seq: number; gaps: number; updates: number; conn?: number }>();

export function quotesView(root: HTMLElement): () => void {
  const sec = html(`<section><h2>Quotes</h2>
    <form id="watch" novalidate><label>Symbols<input name="symbols" value="AAPL,MSFT"></label><button>Watch</button></form>
    <div class="table-wrap"><table id="board"><thead><tr><th>Symbol</th><th>Bid</th><th>Ask</th><th>Seq</th><th>Updates</th><th>Gaps</th></tr></thead><tbody></tbody></table></div></section>`);
  root.append(sec);
  const body = sec.querySelector("tbody")!;
  const render = () => {
    body.replaceChildren(...[...board].map(([sym, q]) => html(`<tr data-symbol="${esc(sym)}"><td>${esc(sym)}</td><td class="bid">${esc(q.bid)}</td><td class="ask">${esc(q.ask)}</td><td class="seq">${q.seq}</td><td class="updates">${q.updates}</td><td class="${q.gaps ? "gap" : ""}">${q.gaps}</td></tr>`)));
  };
  const form = sec.querySelector("form")!;
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const symbols = String(new FormData(form).get("symbols")).toUpperCase().split(/[\s,]+/).filter(Boolean);
    symbols.forEach((s) => board.has(s) || board.set(s, { bid: "", ask: "", seq: 0, gaps: 0, updates: 0 }));
    gateway.subscribe({ channel: "market.quotes", symbols });
    render();
  });
  const off = [
    bus.on("market", (m: MarketMessage) => {
      if (m.channel !== "market.quotes") return;
      const q = board.get(m.symbol) ?? { bid: "", ask: "", seq: 0, gaps: 0, updates: 0 };
      // A symbol's seq numbers its quotes, trades and bars together (actors/feed_core.py), so
      // on one socket a jump is the other channels' events; the gateway closes a consumer it
      // cannot keep up with rather than drop its messages. Quotes are missed across a
      // reconnect: a jump then is a gap.
      if (q.seq && q.conn !== gateway.connects && m.seq > q.seq + 1) q.gaps += 1;
      q.conn = gateway.connects;
      const d = m.data as { bid_price?: string; ask_price?: string; bid?: string; ask?: string };
      Object.assign(q, { bid: d.bid_price ?? d.bid ?? "", ask: d.ask_price ?? d.ask ?? "", seq: m.seq, updates: q.updates + 1 });
      board.set(m.symbol, q);
      render();
    }),
  ];
  render();
  return () => off.forEach((f) => f());
}
