// Sign in with a name and password; the session key lives in sessionStorage until the tab closes.
import { signIn, currentUser } from "../api.js";
import { t } from "../i18n.js";
import { el, heading, nextId, messageBox, errorText, announce } from "../dom.js";
import { go } from "../app.js";

export async function render(main, { query }) {
  const next = safeNext(query.get("next"));
  main.append(heading(1, t("signin.title")));
  const u = currentUser();
  if (u.name) main.append(el("p", {}, t("signin.already", { name: u.name, role: t(`role.${u.role}`) })));
  const nameId = nextId("name"), pwId = nextId("pw");
  const out = el("div", { class: "signin-out" });
  const submit = el("button", { type: "submit", class: "primary" }, t("signin.submit"));
  const form = el("form", { class: "signin-form" },
    el("div", { class: "field" }, el("label", { for: nameId }, t("signin.name")),
      el("input", { id: nameId, name: "name", type: "text", required: true, autocomplete: "username", maxlength: "128" })),
    el("div", { class: "field" }, el("label", { for: pwId }, t("signin.password")),
      el("input", { id: pwId, name: "password", type: "password", required: true, autocomplete: "current-password" })),
    el("div", { class: "actions" }, submit), out);
  main.append(el("p", { class: "intro" }, t("signin.intro")), form, el("p", { class: "hint" }, t("signin.no_account")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    out.replaceChildren();
    try {
      const user = await signIn(form.elements.namedItem("name").value.trim(), form.elements.namedItem("password").value);
      announce(t("signin.welcome", { name: user.name, role: t(`role.${user.role}`) }));
      go(next);
    } catch (err) {
      out.replaceChildren(messageBox(errorText(err)));
      submit.disabled = false;
      form.elements.namedItem("password").select();
    }
  });
  return null;
}

function safeNext(v) {
  return v && v.startsWith("#/") && !v.startsWith("#/signin") ? v : "#/map";
}
