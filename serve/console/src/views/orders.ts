// Order ticket (every type and time in force); open orders with cancel and replace.
import { api, type Schemas } from "../api";
import { bus } from "../bus";
import { notice, report } from "../notify";
import { field, html, serverErrors, showErrors, table, values } from "../ui";

type Row = Record<string, unknown>;
const TYPES = ["market", "limit", "stop", "stop_limit", "trailing_stop"] as const;
const TIFS = ["day", "gtc", "ioc", "fok", "opg", "cls"] as const;
const NEEDS: Record<string, string[]> = {
  market: [], limit: ["limit_price"], stop: ["stop_price"], stop_limit: ["limit_price", "stop_price"],
  trailing_stop: ["trail"],
};
const DECIMAL = /^\d{1,15}(\.\d{1,9})?$/;
/** The server's rule: these times in force are only for market or limit orders. */
const MARKET_OR_LIMIT_TIFS = ["ioc", "fok", "opg", "cls"];

export async function ordersView(root: HTMLElement, account: string): Promise<() => void> {
  const base = `/v1/accounts/${account}/orders`;
  const sec = html(`<section><h2>Order ticket</h2><form id="ticket" novalidate>
    ${field("Symbol", "symbol", 'value="AAPL" autocapitalize="characters"')}
    <label>Side<select name="side"><option>buy</option><option>sell</option></select></label>
    <label>Type<select name="type">${TYPES.map((t) => `<option>${t}</option>`).join("")}</select></label>
    <label>Time in force<select name="time_in_force">${TIFS.map((t) => `<option>${t}</option>`).join("")}</select><span class="field-error" data-error-for="time_in_force"></span></label>
    ${field("Quantity", "qty", 'inputmode="decimal" value="1"')}
    ${field("Limit price", "limit_price", 'inputmode="decimal"')}
    ${field("Stop price", "stop_price", 'inputmode="decimal"')}
    ${field("Trail price", "trail_price", 'inputmode="decimal"')}
    ${field("Trail percent", "trail_percent", 'inputmode="decimal"')}
    <button type="submit">Submit order</button></form></section>`);
  const open = html(`<section><h2>Open orders</h2><div class="list"></div></section>`);
  root.append(sec, open);
  const form = sec.querySelector("form")!;
  const load = async () => {
    try {
      const { orders: rows } = await api.get<{ orders: Row[] }>(`${base}?status=open`);
      open.querySelector(".list")!.replaceChildren(
        table(rows, ["symbol", "side", "type", "time_in_force", "qty", "limit_price", "stop_price", "status"], (r) => actions(r)),
      );
    } catch (err) {
      report(err);
    }
  };
  const actions = (r: Row): HTMLElement => {
    const box = html(`<span><input name="new_qty" size="5" aria-label="new quantity" value="${String(r.qty ?? "")}">
      <button class="secondary replace">Replace</button> <button class="danger cancel">Cancel</button></span>`);
    box.querySelector<HTMLButtonElement>(".cancel")!.onclick = async () => {
      try {
        await api.del(`${base}/${String(r.id)}`);
        notice("info", `Cancel requested for ${String(r.symbol)}`);
        await load();
      } catch (err) {
        report(err);
      }
    };
    // the broker must have accepted an order before it can be replaced
    if (!["new", "accepted", "partially_filled"].includes(String(r.status))) box.querySelectorAll(".replace, [name=new_qty]").forEach((e) => e.remove());
    box.querySelector<HTMLButtonElement>(".replace")?.addEventListener("click", async () => {
      const qty = box.querySelector("input")!.value.trim();
      try {
        await api.patch(`${base}/${String(r.id)}`, { qty } satisfies Schemas["OrderReplace"]);
        notice("info", `Replaced ${String(r.symbol)} with qty ${qty}`);
        await load();
      } catch (err) {
        report(err);
      }
    });
    return box;
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = values(form);
    const errors: Record<string, string> = {};
    if (!/^[A-Z.]{1,12}$/.test(v.symbol.toUpperCase())) errors.symbol = "symbol: 1 to 12 letters";
    if (!DECIMAL.test(v.qty) || Number(v.qty) <= 0) errors.qty = "qty: a positive number";
    if (MARKET_OR_LIMIT_TIFS.includes(v.time_in_force) && !["market", "limit"].includes(v.type))
      errors.time_in_force = `${v.time_in_force} is only for market or limit orders`;
    for (const need of NEEDS[v.type]) {
      if (need === "trail") {
        if (!v.trail_price === !v.trail_percent) errors.trail_price = "give a trail price or a trail percent";
      } else if (!DECIMAL.test(v[need] ?? "")) errors[need] = `${need} is required for ${v.type}`;
    }
    showErrors(form, errors);
    if (Object.keys(errors).length) return;
    const body: Schemas["OrderCreate"] = {
      symbol: v.symbol.toUpperCase(),
      side: v.side as Schemas["OrderCreate"]["side"],
      type: v.type as Schemas["OrderCreate"]["type"],
      time_in_force: v.time_in_force as Schemas["OrderCreate"]["time_in_force"],
      qty: v.qty,
      limit_price: NEEDS[v.type].includes("limit_price") ? v.limit_price : null,
      stop_price: NEEDS[v.type].includes("stop_price") ? v.stop_price : null,
      trail_price: v.type === "trailing_stop" && v.trail_price ? v.trail_price : null,
      trail_percent: v.type === "trailing_stop" && v.trail_percent ? v.trail_percent : null,
      client_order_id: crypto.randomUUID(),
    } as Schemas["OrderCreate"];
    try {
      const o = await api.post<Row>(base, body);
      notice("info", `Order ${String(o.status)}: ${v.side} ${v.qty} ${body.symbol} ${v.type} ${v.time_in_force}`);
      await load();
    } catch (err) {
      serverErrors(form, err);
    }
  });
  const off = bus.on("orders", () => void load());
  await load();
  return off;
}
