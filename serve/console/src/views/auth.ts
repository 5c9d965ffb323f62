// Register (every account type), log in, log out, the session list.
import { api, session, type Schemas, type TokenPair } from "../api";
import { notice, report } from "../notify";
import { field, html, serverErrors, showErrors, table, values } from "../ui";
import { gateway } from "../socket";
import { checkRegistration } from "../validate";

const TYPES = ["individual", "joint", "ira", "custodial"] as const;

function person(pre: string, title: string, hidden = false): string {
  return `<fieldset class="group" data-group="${pre}" ${hidden ? "hidden" : ""}>
    ${field(`${title} legal name`, pre + "legal_name")}
    ${field(`${title} date of birth`, pre + "date_of_birth", 'type="date"')}
    ${field(`${title} tax id (optional)`, pre + "tax_id")}
    ${field(`${title} phone (optional)`, pre + "phone")}</fieldset>`;
}

function profileOf(v: Record<string, string>, pre: string): Schemas["ProfileIn"] | null {
  if (!v[pre + "legal_name"] && !v[pre + "date_of_birth"]) return null;
  return {
    legal_name: v[pre + "legal_name"],
    date_of_birth: v[pre + "date_of_birth"],
    tax_id: v[pre + "tax_id"] || null,
    phone: v[pre + "phone"] || null,
  } as Schemas["ProfileIn"];
}

export function registerView(root: HTMLElement): void {
  const sec = html(`<section><h2>Register</h2><form id="register" novalidate>
    ${field("Email", "email", 'type="email" autocomplete="username"')}
    ${field("Password", "password", 'type="password" autocomplete="new-password"')}
    <label>Account type<select name="account_type">${TYPES.map((t) => `<option>${t}</option>`).join("")}</select></label>
    ${person("profile.", "Owner")}
    ${person("minor.", "Minor", true)}
    <button type="submit">Create account</button></form>
    <p>Have an account? <a href="#/login">Log in</a></p></section>`);
  const form = sec.querySelector("form")!;
  const minor = form.querySelector<HTMLElement>('[data-group="minor."]')!;
  form.account_type.addEventListener("change", () => (minor.hidden = form.account_type.value !== "custodial"));
  minor.hidden = true;
  const toggle = () => minor.querySelectorAll("input").forEach((i) => (i.disabled = minor.hidden));
  form.account_type.addEventListener("change", toggle);
  toggle();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = values(form);
    const errors = checkRegistration(v);
    showErrors(form, errors);
    if (Object.keys(errors).length) return;
    const body: Schemas["RegisterRequest"] = {
      email: v.email,
      password: v.password,
      account_type: v.account_type as Schemas["RegisterRequest"]["account_type"],
      profile: profileOf(v, "profile."),
      minor: v.account_type === "custodial" ? profileOf(v, "minor.") : null,
    };
    try {
      await api.post("/v1/auth/register", body);
      await login(v.email, v.password);
      notice("info", `Registered a ${v.account_type} account`);
      location.hash = "#/account";
    } catch (err) {
      serverErrors(form, err);
    }
  });
  root.append(sec);
}

async function login(email: string, password: string): Promise<void> {
  session.set(await api.post<TokenPair>("/v1/auth/login", { email, password }));
}

export function loginView(root: HTMLElement): void {
  const sec = html(`<section><h2>Log in</h2><form id="login" novalidate>
    ${field("Email", "email", 'type="email" autocomplete="username"')}
    ${field("Password", "password", 'type="password" autocomplete="current-password"')}
    <button type="submit">Log in</button></form>
    <p>New here? <a href="#/register">Register</a></p></section>`);
  const form = sec.querySelector("form")!;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = values(form);
    try {
      await login(v.email, v.password);
      location.hash = "#/account";
    } catch (err) {
      serverErrors(form, err);
    }
  });
  root.append(sec);
}

export async function sessionsView(root: HTMLElement): Promise<void> {
  const sec = html(`<section><h2>Sessions</h2><div class="list"></div>
    <button id="logout" class="secondary">Log out</button></section>`);
  root.append(sec);
  sec.querySelector<HTMLButtonElement>("#logout")!.onclick = logout;
  try {
    const rows = await api.get<Record<string, unknown>[]>("/v1/sessions");
    sec.querySelector(".list")!.append(table(rows, Object.keys(rows[0] ?? { id: "" })));
  } catch (err) {
    report(err);
  }
}

export async function logout(): Promise<void> {
  gateway.stop(); // first: the socket's 4401 after the revocation is no expiry
  try {
    await api.post("/v1/auth/logout");
  } catch (err) {
    report(err);
  }
  session.set(null);
  location.hash = "#/login";
}
