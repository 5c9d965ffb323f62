// Notifications in one place, by problem type.
import { Problem, session } from "./api";

const box = (): HTMLElement => document.getElementById("notices")!;

export function notice(kind: string, text: string): void {
  const el = document.createElement("div");
  el.className = "notice";
  el.dataset.kind = kind;
  el.innerHTML = `<span></span><button class="secondary" aria-label="dismiss">×</button>`;
  el.querySelector("span")!.textContent = text;
  el.querySelector("button")!.onclick = () => el.remove();
  box().prepend(el);
  if (kind === "info") window.setTimeout(() => el.remove(), 8000);
  while (box().children.length > 4) box().lastElementChild!.remove();
}

/** Turns any error into the one notice its problem type calls for. */
export function report(err: unknown): void {
  if (!(err instanceof Problem)) {
    notice("dependency-unavailable", `Network error: ${String(err)}`);
    return;
  }
  switch (riskCode(err) ? "risk-denied" : err.kind) {
    case "validation":
      notice("validation", `Check the form: ${err.errors.map((e) => `${e.field}: ${e.message}`).join("; ") || err.detail}`);
      break;
    case "unauthenticated":
      sessionExpired();
      break;
    case "risk-denied":
      notice("risk-denied", `Risk denied (${riskCode(err) ?? String(err.body.reason ?? "")}): ${err.detail}`);
      break;
    case "plan-limit":
    case "payment-required":
      notice("plan-limit", `Plan limit: ${err.detail || err.title}`);
      break;
    case "dependency-unavailable":
    case "rate-limited":
      notice(err.kind, `${err.title}: ${err.detail}. Try again shortly.`);
      break;
    default:
      notice(err.kind, `${err.title}${err.detail ? ": " + err.detail : ""}`);
  }
}

/** A risk denial's reason code: the API answers a denial with the code's own problem type
 * (`/problems/trading-halted`) and the code itself in `reason` (`trading_halted`), so a
 * type that is the URL form of its `reason` is a risk denial, whichever rule refused. */
function riskCode(err: Problem): string | null {
  const reason = err.body.reason;
  if (typeof reason !== "string") return null;
  return err.kind === "risk-denied" || reason.replace(/_/g, "-") === err.kind ? reason : null;
}

/** The one way out of a dead session (a 401 problem, or the gateway's 4401 close). */
export function sessionExpired(): void {
  session.set(null); // clears the notices of the old session
  notice("unauthenticated", "Your session expired: log in again.");
  location.hash = "#/login";
}
