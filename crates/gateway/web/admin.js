// The operator: stores (and registering one for an owner), sagas stuck past their deadlines,
// payments by customer, and disabling an account.
import { api } from "./api.js";
import { h, show, field, notice, button } from "./dom.js";
import { won, dateTime } from "./format.js";

export const links = [
  ["#/", "가게 Stores"],
  ["#/sagas", "지연 주문 Stuck orders"],
  ["#/payments", "결제 Payments"],
  ["#/accounts", "계정 Accounts"],
];

export function screen(path) {
  if (path === "/sagas") return sagas;
  if (path === "/payments") return payments;
  if (path === "/accounts") return accounts;
  return stores;
}

async function stores(root) {
  const report = notice();
  const list = h("tbody");
  const draw = async () => {
    const all = await api("GET", "/stores");
    show(list, all.map((s) => h("tr", null, h("td", null, s.name), h("td", null, s.ownerId), h("td", null, s.open ? "영업 중 · Open" : "준비 중 · Paused"))));
  };
  const name = field("가게 이름 Store name", { maxlength: 100, required: true });
  const owner = field("점주 ID Owner id", { required: true });
  const lat = field("위도 Latitude", { type: "number", step: "any", min: -90, max: 90, required: true });
  const lng = field("경도 Longitude", { type: "number", step: "any", min: -180, max: 180, required: true });
  const form = h("form", { class: "card", "aria-label": "가게 등록 Register a store" },
    h("h3", null, "가게 등록 Register a store"), name.element, owner.element, h("div", { class: "row" }, lat.element, lng.element),
    h("button", { type: "submit" }, "등록 Register"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", "/stores", { name: name.input.value, ownerId: owner.input.value, lat: Number(lat.input.value), lng: Number(lng.input.value) });
      report.ok("등록했습니다 · registered");
      await draw();
    } catch (error) {
      report.fail(error);
    }
  });
  show(root, h("h2", null, "가게 Stores"), report.element,
    h("table", null, h("thead", null, h("tr", null, ["가게 Store", "점주 Owner", "상태 Status"].map((t) => h("th", { scope: "col" }, t)))), list), form);
  draw().catch((error) => report.fail(error));
}

async function sagas(root) {
  const report = notice();
  show(root, h("h2", null, "지연 주문 Orders past their stage's deadline"), report.element);
  try {
    const stages = await api("GET", "/admin/sagas/stuck");
    root.append(...stages.map((stage) => h("section", { class: "card" },
      h("h3", null, `${stage.stage}: ${stage.count} (> ${stage.deadlineSecs} s)`),
      h("ul", null, stage.orders.map((o) => h("li", null, `${o.orderId} · ${dateTime(o.since)}`))))));
  } catch (error) {
    report.fail(error);
  }
}

function payments(root) {
  const report = notice();
  const customer = field("고객 ID Customer id (비우면 전체 · empty: all)");
  const list = h("tbody");
  const search = button("조회 Search", async () => {
    const query = new URLSearchParams({ limit: 100 });
    if (customer.input.value.trim()) query.set("customerId", customer.input.value.trim());
    const all = await api("GET", `/payments?${query}`);
    show(list, all.map((p) => h("tr", null, h("td", null, dateTime(p.createdAt)), h("td", null, p.customerId),
      h("td", { class: "num" }, won(p.amount)), h("td", null, p.status), h("td", null, p.orderId))));
  }, report);
  show(root, h("h2", null, "결제 Payments"), report.element, h("div", { class: "row" }, customer.element, search),
    h("table", null, h("thead", null, h("tr", null, ["일시 When", "고객 Customer", "금액 Amount", "상태 Status", "주문 Order"].map((t) => h("th", { scope: "col" }, t)))), list));
  search.click();
}

function accounts(root) {
  const report = notice();
  const username = field("아이디 Username", { required: true });
  show(root, h("h2", null, "계정 사용 중지 Disable an account"), report.element,
    h("div", { class: "card" }, username.element,
      button("사용 중지 Disable", async () => {
        await api("DELETE", `/accounts/${encodeURIComponent(username.input.value.trim())}`);
        report.ok("사용 중지했습니다 · disabled: its tokens stop working");
      }, report, { class: "danger" })));
}
