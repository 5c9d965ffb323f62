// Optimization jobs: live progress over the gateway, results table, heatmap.
import { api, apiBase, session } from "../api";
import { bus } from "../bus";
import type { JobEventMessage } from "../generated/ws";
import { report } from "../notify";
import { gateway } from "../socket";
import { html, table } from "../ui";

type Row = Record<string, unknown>;

export async function jobsView(root: HTMLElement): Promise<() => void> {
  const sec = html(`<section><h2>Optimization jobs</h2><div class="list"></div></section>`);
  const detail = html(`<section hidden><h2>Results</h2><div class="trials"></div><img class="heatmap" alt="heatmap"></section>`);
  root.append(sec, detail);
  const progress = new Map<string, string>();
  const show = async (id: string) => {
    try {
      const trials = await api.get<Row[] | { items: Row[] }>(`/v1/optimizations/${id}/trials`);
      const rows = Array.isArray(trials) ? trials : trials.items;
      detail.hidden = false;
      detail.querySelector(".trials")!.replaceChildren(table(rows, Object.keys(rows[0] ?? { id: "" }).slice(0, 8)));
      if (!rows.length) return; // no heatmap before the first trial
      const res = await fetch(`${apiBase()}/v1/optimizations/${id}/heatmap.png`, {
        headers: { authorization: `Bearer ${session.get()?.access_token ?? ""}` },
      });
      if (res.ok) detail.querySelector<HTMLImageElement>("img")!.src = URL.createObjectURL(await res.blob());
    } catch (err) {
      report(err);
    }
  };
  const load = async () => {
    try {
      const jobs = await api.get<Row[] | { items: Row[] }>("/v1/optimizations");
      const rows = (Array.isArray(jobs) ? jobs : jobs.items).map((j) => ({ ...j, progress: progress.get(String(j.id)) ?? "" }));
      sec.querySelector(".list")!.replaceChildren(table(rows, ["id", "strategy", "status", "total_trials", "progress"], (r) => {
        const b = html(`<button class="secondary">Results</button>`);
        b.onclick = () => void show(String(r.id));
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
