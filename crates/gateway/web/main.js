// The app: sign in, then the screens of the caller's role, one route each in the URL's hash
// (`#/orders/…`), so the back button and a reload keep the place.
import { api, session } from "./api.js";
import { h, show, field, notice } from "./dom.js";
import * as customer from "./customer.js";
import * as owner from "./owner.js";
import * as rider from "./rider.js";
import * as admin from "./admin.js";

const ROLES = { customer, owner, rider, admin };
const main = document.getElementById("main");
const nav = document.getElementById("nav");
let leave = null; // stops what the screen on show follows (its live streams)

function login() {
  const username = field("아이디 Username", { autocomplete: "username", required: true, name: "username" });
  const password = field("비밀번호 Password", { type: "password", autocomplete: "current-password", required: true, name: "password" });
  const report = notice();
  const form = h("form", { class: "card narrow", "aria-labelledby": "login-title" },
    h("h2", { id: "login-title" }, "로그인 Log in"),
    username.element, password.element,
    h("button", { type: "submit" }, "로그인 Log in"),
    report.element,
    h("p", { class: "muted" }, "Demo: customer1–3, owner1–2, rider1–3 · demo1234"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const name = username.input.value.trim();
      const signedIn = await api("POST", "/auth/login", { username: name, password: password.input.value });
      session.save(signedIn, name);
      go("#/");
    } catch (error) {
      report.fail(error);
    }
  });
  show(main, form);
  username.input.focus();
}

function menu(role) {
  const links = ROLES[role].links;
  show(nav,
    h("ul", null, links.map(([href, text]) => h("li", null, h("a", { href, "aria-current": location.hash === href ? "page" : undefined }, text)))),
    h("span", { class: "who" }, `${session.name} · ${role}`),
    h("button", { type: "button", class: "ghost", onclick: () => { session.clear(); go("#/"); } }, "로그아웃 Log out"));
}

/** Shows `hash`: through the hashchange event when it changes, at once when it does not. */
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function route() {
  leave?.();
  leave = null;
  const role = session.token ? session.role : null;
  if (!role || !ROLES[role]) {
    show(nav);
    login();
    return;
  }
  menu(role);
  const path = location.hash.replace(/^#/, "") || "/";
  const screen = ROLES[role].screen(path);
  main.replaceChildren();
  main.focus();
  // A screen that follows something live returns how to stop it; the others return nothing
  // (or a promise of their first draw).
  // Each showing draws into a view of its own: a slow screen left behind draws into a view
  // that is no longer on the page.
  const view = h("div");
  main.append(view);
  const shown = screen(view);
  leave = typeof shown === "function" ? shown : null;
}

window.addEventListener("hashchange", route);
window.addEventListener("baedal:signed-out", () => { session.clear(); route(); });
route();
