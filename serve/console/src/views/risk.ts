// The account's risk state and its kill switch.
import { api } from "../api";
import { bus } from "../bus";
import { notice, report } from "../notify";
import { esc, html } from "../ui";

export async function riskView(root: HTMLElement, account: string): Promise<() => void> {
  const sec = html(`<section><h2>Risk</h2><pre class="risk-state">loading</pre>
    <label><input type="checkbox" name="flatten"> also flatten positions</label>
    <button class="danger" id="kill">Kill switch</button></section>`);
  root.append(sec);
  const load = async () => {
    try {
      const state = await api.get<Record<string, unknown>>(`/v1/accounts/${account}/risk`);
      sec.querySelector(".risk-state")!.innerHTML = esc(JSON.stringify(state, null, 2));
    } catch (err) {
      report(err);
    }
  };
  sec.querySelector<HTMLButtonElement>("#kill")!.onclick = async () => {
    const flatten = sec.querySelector<HTMLInputElement>('[name="flatten"]')!.checked;
    try {
      await api.post(`/v1/accounts/${account}/kill-switch`, { reason: "console kill switch", flatten });
      notice("info", "Kill switch engaged: trading halted for this account");
      await load();
    } catch (err) {
      report(err);
    }
  };
  const off = bus.on("risk", () => void load());
  await load();
  return off;
}
