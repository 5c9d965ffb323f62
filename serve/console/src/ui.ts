// Small DOM helpers: no framework.
import { Problem } from "./api";
import { report } from "./notify";

export function html(markup: string): HTMLElement {
  const t = document.createElement("template");
  t.innerHTML = markup.trim();
  return t.content.firstElementChild as HTMLElement;
}

export function esc(v: unknown): string {
  return String(v ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function table(rows: Record<string, unknown>[], columns: string[], actions?: (row: Record<string, unknown>) => HTMLElement | null): HTMLElement {
  const wrap = html(`<div class="table-wrap"><table><thead><tr>${columns.map((c) => `<th>${esc(c)}</th>`).join("")}${actions ? "<th></th>" : ""}</tr></thead><tbody></tbody></table></div>`);
  const body = wrap.querySelector("tbody")!;
  if (!rows.length) body.append(html(`<tr><td colspan="${columns.length + 1}">none</td></tr>`));
  for (const r of rows) {
    const tr = html(`<tr>${columns.map((c) => `<td data-col="${esc(c)}">${esc(typeof r[c] === "object" && r[c] !== null ? JSON.stringify(r[c]) : r[c])}</td>`).join("")}</tr>`);
    if (actions) {
      const td = document.createElement("td");
      const a = actions(r);
      if (a) td.append(a);
      tr.append(td);
    }
    body.append(tr);
  }
  return wrap;
}

/** Shows each field error under its input (``name`` = the server's field path). */
export function showErrors(form: HTMLFormElement, errors: Record<string, string>): void {
  form.querySelectorAll<HTMLElement>(".field-error").forEach((e) => (e.textContent = ""));
  form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
  for (const [field, message] of Object.entries(errors)) {
    const input = form.querySelector<HTMLInputElement>(`[name="${field}"]`);
    const slot = form.querySelector<HTMLElement>(`[data-error-for="${field}"]`) ?? input?.parentElement?.querySelector(".field-error");
    input?.setAttribute("aria-invalid", "true");
    if (slot) slot.textContent = message;
  }
}

/** A server 422: each error on its field; errors for fields the form lacks go to notices. */
export function serverErrors(form: HTMLFormElement, err: unknown, prefix = /^body\./): void {
  if (err instanceof Problem && err.kind === "validation" && err.errors.length) {
    const mapped: Record<string, string> = {};
    for (const e of err.errors) mapped[e.field.replace(prefix, "")] = e.message;
    showErrors(form, mapped);
    if (Object.keys(mapped).some((f) => !form.querySelector(`[name="${f}"]`))) report(err);
    return;
  }
  report(err);
}

export const field = (label: string, name: string, attrs = ""): string =>
  `<label>${esc(label)}<input name="${name}" ${attrs}><span class="field-error" data-error-for="${name}"></span></label>`;

export function values(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {};
  new FormData(form).forEach((v, k) => (out[k] = String(v).trim()));
  return out;
}
