// Registration rules, the server's own (generated/rules.ts from domain.validation and the
// password policy); each returns field -> message like the server's 422.
import * as R from "./generated/rules";

function classes(p: string): number {
  return [/[a-zA-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(p)).length;
}

export function ageOn(born: Date, today: Date): number {
  const before = today.getUTCMonth() < born.getUTCMonth() ||
    (today.getUTCMonth() === born.getUTCMonth() && today.getUTCDate() < born.getUTCDate());
  return today.getUTCFullYear() - born.getUTCFullYear() - (before ? 1 : 0);
}

export function checkRegistration(v: Record<string, string>, today = new Date()): Record<string, string> {
  const e: Record<string, string> = {};
  const email = (v.email ?? "").trim().toLowerCase();
  const local = email.split("@")[0] ?? "";
  if (!R.EMAIL_RE.test(email) || email.length > 254 || local.length > 64 || local.startsWith(".") || local.endsWith(".") || local.includes(".."))
    e.email = "email is not a valid email address";
  const p = v.password ?? "";
  if (p.length < R.PASSWORD_MIN_LENGTH) e.password = `password needs ${R.PASSWORD_MIN_LENGTH}+ characters`;
  else if (p.length > R.PASSWORD_MAX_LENGTH) e.password = `password is longer than ${R.PASSWORD_MAX_LENGTH}`;
  else if (classes(p) < 2) e.password = "password must mix letters, digits or symbols";
  else if (p.toLowerCase() === email || (local.length >= 4 && p.toLowerCase() === local)) e.password = "password must not be the email address";
  else if ((R.COMMON_PASSWORDS as readonly string[]).some((c) => c.toLowerCase() === p.toLowerCase())) e.password = "password is a common password";
  const type = v.account_type ?? "individual";
  const minor = (R.MINOR_ACCOUNT_TYPES as readonly string[]).includes(type);
  checkPerson(v, "profile.", "individual", false, today, e); // the server checks the owner as an individual
  if (minor) checkPerson(v, "minor.", type, true, today, e);
  return e;
}

function checkPerson(v: Record<string, string>, pre: string, type: string, isMinor: boolean, today: Date, e: Record<string, string>): void {
  const name = v[pre + "legal_name"] ?? "";
  const dob = v[pre + "date_of_birth"] ?? "";
  if (!name && !dob && !isMinor) return; // the owner's profile is optional at registration
  if (!name || name.length > 200) e[pre + "legal_name"] = "legal name is required (up to 200 characters)";
  const born = new Date(dob + "T00:00:00Z");
  if (!dob || Number.isNaN(born.getTime())) e[pre + "date_of_birth"] = "date_of_birth is required";
  else if (born > today) e[pre + "date_of_birth"] = "date_of_birth is in the future";
  else if (born.getUTCFullYear() < 1900) e[pre + "date_of_birth"] = "date_of_birth is before 1900";
  else if (!isMinor && (R.ADULT_ACCOUNT_TYPES as readonly string[]).includes(type) && ageOn(born, today) < R.ADULT_AGE)
    e[pre + "date_of_birth"] = "date_of_birth: the owner must be 18 or older";
  else if (isMinor && ageOn(born, today) >= R.ADULT_AGE) e[pre + "date_of_birth"] = "date_of_birth: a custodial account is for a minor";
  const tax = v[pre + "tax_id"];
  if (tax && !R.TAX_ID_RE.test(tax)) e[pre + "tax_id"] = "tax_id must be 9 digits (AAA-GG-SSSS)";
  const phone = v[pre + "phone"];
  if (phone && !R.E164_RE.test(phone)) e[pre + "phone"] = "phone must be E.164, e.g. +12125550100";
}
