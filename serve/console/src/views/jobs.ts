// Optimization jobs: live progress over the gateway, results table, heatmap.
import { api, type Schemas } from "../api";
import { bus } from "../bus";
import type { JobEventMessage } from "../generated/ws";
import { report } from "../notify";
import { gateway } from "../socket";
import { esc, html, table } from "../ui";

type Row = Record<string, unknown>;
type Job = Schemas["OptimizationPublic"];
type Trial = Schemas["TrialPublic"];
/** The trials API's orders; "" is its default, the objective's best first. */
const SORTS = [["", "best first"], ["-score", "score, high to low"], ["score", "score, low to high"], ["id", "run order"]];
/** What a quant reads next to the score before trusting it. */
const STATS = ["trades", "return_pct", "max_drawdown_pct"];
/** Six significant digits: the kernel's float noise (29.32364999999996) is not a result. */
const num = (v: number | null | undefined): number | null | undefined => (typeof v === "number" ? Number(v.toPrecision(6)) : v);

export async function jobsView(root: HTMLElement): Promise<() => void> {
  const sec = html(`<section><h2>Optimization jobs</h2><div class="list"></div></section>`);
  const detail = html(`<section hidden><h2>Results</h2><p class="best"></p><form class="results" novalidate>
    <label>Sort<select name="sort">${SORTS.map(([v, l]) => `<option value="${v}">${l}</option>`).join("")}</select></label>
    <label class="axis">Heatmap x<select name="x"></select></label><label class="axis">Heatmap y<select name="y"></select></label>
    </form><div class="trials"></div><img class="heatmap" alt="heatmap"></section>`);
  root.append(sec, detail);
  const progress = new Map<string, string>();
  const pick = (name: string) => detail.querySelector<HTMLSelectElement>(`select[name=${name}]`)!;
  const img = detail.querySelector<HTMLImageElement>("img.heatmap")!;
  let job: Job | null = null;
  let names: string[] = [];

  const trials = async (sort: string): Promise<Trial[]> =>
    (await api.get<Schemas["TrialsPage"]>(`/v1/optimizations/${job!.id}/trials${sort ? `?sort=${sort}` : ""}`)).items;
  const render = (items: Trial[]) => {
    const rows = items.map((t) => ({ ...t.params, score: num(t.score), ...Object.fromEntries(STATS.map((s) => [s, num(t.stats[s])])) }));
    detail.querySelector(".trials")!.replaceChildren(table(rows, [...names, "score", ...STATS]));
  };
  const heatmap = async () => {
    img.hidden = names.length < 2; // one parameter has no second axis
    if (img.hidden) return;
    const q = new URLSearchParams({ x: pick("x").value, y: pick("y").value });
    const png = await api.get<Blob>(`/v1/optimizations/${job!.id}/heatmap.png?${q}`);
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(png);
  };
  const show = async (j: Job) => {
    try {
      job = j;
      const best = await trials("");
      names = Object.keys(best[0]?.params ?? {});
      detail.hidden = false;
      detail.querySelector("h2")!.textContent = `Results: ${j.strategy} by ${j.objective}`;
      detail.querySelector(".best")!.innerHTML = best[0]
        ? `Best: <b>${esc(names.map((n) => `${n}=${best[0].params[n]}`).join(", "))}</b>, ${esc(j.objective)} ${esc(num(best[0].score))}`
        : "No trials yet.";
      pick("sort").value = "";
      for (const [axis, at] of [["x", 0], ["y", 1]] as const) {
        pick(axis).innerHTML = names.map((n) => `<option>${esc(n)}</option>`).join("");
        pick(axis).value = names[at] ?? "";
      }
      detail.querySelectorAll<HTMLElement>(".axis").forEach((a) => (a.hidden = names.length < 2));
      render(best);
      if (best.length) await heatmap(); // no heatmap before the first trial
    } catch (err) {
      report(err);
    }
  };
  detail.querySelector("form")!.onchange = async (e) => {
    const changed = e.target as HTMLSelectElement;
    try {
      if (changed.name === "sort") return render(await trials(changed.value));
      const other = pick(changed.name === "x" ? "y" : "x");
      if (other.value === changed.value) other.value = names.find((n) => n !== changed.value) ?? ""; // the axes differ
      await heatmap();
    } catch (err) {
      report(err);
    }
  };
  const load = async () => {
    try {
      const { items } = await api.get<Schemas["OptimizationList"]>("/v1/optimizations");
      const rows = items.map((j) => ({ ...j, progress: progress.get(j.id) ?? `${j.status} ${j.progress.done}/${j.progress.total}` }));
      sec.querySelector(".list")!.replaceChildren(table(rows, ["id", "strategy", "status", "total_trials", "progress"], (r) => {
        const b = html(`<button class="secondary">Results</button>`);
        b.onclick = () => void show(items.find((j) => j.id === r.id)!);
        return b;
      }));
    } catch (err) {
      report(err);
    }
  };
  gateway.subscribe({ channel: "jobs" });
  const off = bus.on("jobs", (m: JobEventMessage) => {
    progress.set(m.data.job_id, `${m.data.status} ${m.data.done}/${m.data.total}`);
    void load();
  });
  await load();
  return off;
}
