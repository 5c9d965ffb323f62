// Fund the paper account; summary, positions, activities (the ledger), history chart.
import { api } from "../api";
import { notice, report } from "../notify";
import { esc, field, html, serverErrors, showErrors, table, values } from "../ui";

type Row = Record<string, unknown>;
type History = { timestamp: number[]; equity: string[] };

export function chart(h: History): HTMLElement {
  const pts = h.equity.map(Number);
  if (pts.length < 2) return html(`<p class="chart-empty">Not enough history yet.</p>`);
  const min = Math.min(...pts), max = Math.max(...pts), span = max - min || 1;
  const line = pts.map((y, i) => `${(i / (pts.length - 1)) * 100},${95 - ((y - min) / span) * 90}`).join(" ");
  return html(`<svg class="chart" viewBox="0 0 100 100" preserveAspectRatio="none" role="img" aria-label="equity from ${esc(min)} to ${esc(max)}">
    <polyline fill="none" stroke="#14213d" stroke-width="1" vector-effect="non-scaling-stroke" points="${line}"/></svg>`);
}

export async function accountView(root: HTMLElement, account: string): Promise<void> {
  const sec = html(`<section><h2>Paper account</h2><div class="summary"></div>
    <form id="fund" novalidate>${field("Amount (USD)", "amount", 'inputmode="decimal" placeholder="10000.00"')}
    <button type="submit">Fund</button></form></section>`);
  const pos = html(`<section><h2>Positions</h2><div class="list"></div></section>`);
  const act = html(`<section><h2>Activities</h2><div class="list"></div></section>`);
  const hist = html(`<section><h2>Portfolio history</h2><div class="chart-slot"></div></section>`);
  root.append(sec, pos, act, hist);
  const base = `/v1/accounts/${account}`;
  const load = async () => {
    try {
      const [summary, positions, activities, history] = await Promise.all([
        api.get<Row>(`${base}/summary`),
        api.get<Row[]>(`${base}/positions`),
        api.get<{ activities: Row[] }>(`${base}/activities`),
        api.get<History>(`${base}/portfolio/history`),
      ]);
      const s = sec.querySelector(".summary")!;
      s.replaceChildren(table([summary], ["status", "cash", "equity", "buying_power"]));
      pos.querySelector(".list")!.replaceChildren(table(positions, ["symbol", "qty", "avg_entry_price", "market_value", "unrealized_pl"]));
      const rows = activities.activities.map((a) => ({
        ...a,
        postings: (a.postings as { account: string; amount: string }[]).map((p) => `${p.account} ${p.amount}`).join(", "),
      }));
      act.querySelector(".list")!.replaceChildren(table(rows, ["activity_type", "date", "memo", "postings"]));
      hist.querySelector(".chart-slot")!.replaceChildren(chart(history));
    } catch (err) {
      report(err);
    }
  };
  const form = sec.querySelector("form")!;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const { amount } = values(form);
    if (!/^\d{1,8}(\.\d{1,2})?$/.test(amount) || Number(amount) <= 0 || Number(amount) > 10_000_000) {
      showErrors(form, { amount: "amount: more than 0, at most 10,000,000.00, cents at most" });
      return;
    }
    showErrors(form, {});
    try {
      await api.post(`${base}/fund`, { amount });
      notice("info", `Funded ${amount} USD`);
      form.reset();
      await load();
    } catch (err) {
      serverErrors(form, err);
    }
  });
  await load();
}
