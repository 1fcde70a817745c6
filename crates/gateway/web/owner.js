// The store owner: orders arriving live (with a cue), accepting with cook minutes and rejecting
// with a reason, cooking, and following each order after it leaves the kitchen; the menu
// (prices, sold out, foods added and removed), opening and pausing; food counts.
import { api, follow, session } from "./api.js";
import { h, show, field, notice, button } from "./dom.js";
import { won, time, status } from "./format.js";
import { reviews } from "./reviews.js";

export const links = [
  ["#/", "주문 Orders"],
  ["#/menu", "메뉴 Menu"],
  ["#/counts", "음식별 주문 수 Food counts"],
  ["#/reviews", "리뷰 Reviews"],
];

export function screen(path) {
  if (path === "/menu") return (root) => withStore(root, menu);
  if (path === "/counts") return (root) => withStore(root, counts);
  if (path === "/reviews") return (root) => withStore(root, (view, store) => show(view, h("h2", null, `${store.name} 리뷰 Reviews`), reviews(store.storeId)));
  return (root) => withStore(root, orders);
}

const REASONS = ["재료 소진 Out of ingredients", "주문 폭주 Too busy", "영업 종료 Closing", "배달 불가 지역 Out of range"];
const PAGE = 20;

/** Runs `view` with the owner's store; its return value (a stop function) is passed on. */
function withStore(root, view) {
  const report = notice();
  show(root, report.element);
  let stop = null;
  let left = false;
  api("GET", "/stores").then((stores) => {
    const mine = stores.find((s) => s.ownerId === session.subject);
    if (!mine) throw new Error("가게가 없습니다 · you have no store");
    if (!left) stop = view(root, mine);
  }).catch((error) => report.fail(error));
  return () => { left = true; if (typeof stop === "function") stop(); };
}

function orders(root, store) {
  const report = notice();
  const live = h("span", { class: "muted", "aria-live": "polite" });
  const filter = field("상태 Status", {
    options: [["", "전체 All"], ...["Placed", "Accepted", "Cooking", "Cooked", "Picked", "Delivered", "Completed", "Canceled", "Rejected"].map((s) => [s, status(s)])],
    value: "",
  });
  const rows = h("tbody");
  const more = h("div");
  const cue = h("p", { class: "cue", role: "alert", hidden: true });
  const byId = new Map();
  let next = null; // where the next (older) page starts
  show(root, h("h2", null, `${store.name} 주문 Orders `, live), cue, report.element, filter.element,
    h("table", { class: "orders" },
      h("thead", null, h("tr", null, ["주문 Order", "상태 Status", "금액 Amount", "메뉴 Items", "주소 Address", ""].map((t) => h("th", { scope: "col" }, t)))),
      rows),
    more);

  const actions = (o) => {
    const path = `/stores/${store.storeId}/orders/${o.orderId}`;
    const done = (changed) => { place({ ...o, status: changed.status }); };
    if (o.status === "Placed") {
      const minutes = field("조리 시간 Cook minutes", { options: [5, 10, 15, 20, 30, 45, 60].map((m) => [m, `${m}분`]), value: 15 });
      const reason = field("거절 사유 Reason", { options: REASONS.map((r) => [r, r]), value: REASONS[0] });
      return [minutes.element,
        button("수락 Accept", async () => done(await api("POST", `${path}/accept`, { cookMinutes: Number(minutes.input.value) })), report),
        reason.element,
        button("거절 Reject", async () => done(await api("POST", `${path}/reject`, { reason: reason.input.value })), report, { class: "danger" })];
    }
    if (o.status === "Accepted") return [button("조리 시작 Start cooking", async () => done(await api("POST", `${path}/cook-start`)), report)];
    if (o.status === "Cooking") return [button("조리 완료 Cooked", async () => done(await api("POST", `${path}/cook-finish`)), report)];
    return [];
  };
  const row = (o) => h("tr", { id: `order-${o.orderId}`, dataset: { status: o.status } },
    h("td", null, time(o.placedAt), h("br"), h("small", { class: "muted" }, o.orderId.slice(0, 8))),
    h("td", { class: "status" }, status(o.status)),
    h("td", { class: "num" }, won(o.amount)),
    h("td", null, o.items.map((line) => `${line.name} × ${line.quantity}`).join(", ")),
    h("td", null, o.deliveryAddress.text),
    h("td", { class: "actions" }, actions(o)));
  const shown = (o) => !filter.input.value || filter.input.value === o.status;
  const place = (o) => {
    byId.set(o.orderId, o);
    const existing = document.getElementById(`order-${o.orderId}`);
    if (!shown(o)) { existing?.remove(); return; }
    if (existing) existing.replaceWith(row(o));
    else rows.prepend(row(o));
  };
  // Newest first, a page at a time from the server; a new order arrives at the top.
  const page = async (after) => {
    const query = new URLSearchParams({ limit: PAGE, sort: "newest" });
    if (filter.input.value) query.set("status", filter.input.value);
    if (after) query.set("after", after);
    try {
      const found = await api("GET", `/stores/${store.storeId}/orders?${query}`);
      for (const o of found) { byId.set(o.orderId, o); rows.append(row(o)); }
      const last = found[found.length - 1];
      next = found.length === PAGE ? `${last.placedAt}:${last.orderId}` : null;
      show(more, next ? button("이전 주문 더 보기 Older orders", () => page(next), report, { class: "ghost" }) : null);
    } catch (error) {
      report.fail(error);
    }
  };
  filter.input.addEventListener("change", () => { rows.replaceChildren(); page(null); });
  page(null);
  return follow(`/stores/${store.storeId}/orders/events`, (event, o) => {
    if (event === "reset") { rows.replaceChildren(); page(null); return; }
    if (event !== "order") return;
    const isNew = !byId.has(o.orderId) && o.status === "Placed";
    place(o);
    if (isNew) {
      cue.hidden = false;
      cue.textContent = `새 주문 New order · ${won(o.amount)} · ${time(o.placedAt)}`;
      beep();
    }
  }, (state, error) => {
    live.textContent = { live: "실시간 · live", reconnecting: "다시 연결 중 · reconnecting" }[state] ?? "";
    if (error) report.fail(error);
  });
}

/** A short tone for a new order, where the browser lets a page play one. */
function beep() {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    tone.frequency.value = 880;
    tone.connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.15);
  } catch { /* no sound: the visual cue stays */ }
}

async function menu(root, store) {
  const report = notice();
  const detail = await api("GET", `/stores/${store.storeId}`).catch((error) => { report.fail(error); return null; });
  if (!detail) { show(root, report.element); return; }
  const foods = detail.foods.map((food) => ({ ...food }));
  const list = h("tbody");
  const state = h("p", { class: "status" });
  const draw = () => {
    state.textContent = detail.open ? "영업 중 · Open" : "준비 중 · Paused";
    show(list, foods.map((food, index) => {
      const price = field(`${food.name} 가격 Price`, { type: "number", min: 1, max: 10000000, value: food.price, required: true });
      price.input.addEventListener("input", () => { food.price = Number(price.input.value); });
      const soldOut = h("input", { type: "checkbox", id: `sold-out-${index}`, checked: food.soldOut });
      soldOut.addEventListener("change", () => { food.soldOut = soldOut.checked; });
      return h("tr", null,
        h("td", null, food.name),
        h("td", null, price.element),
        h("td", null, h("label", { for: `sold-out-${index}` }, soldOut, " 품절 Sold out")),
        h("td", null, h("button", { type: "button", class: "ghost", onclick: () => { foods.splice(index, 1); draw(); } }, `삭제 Remove ${food.name}`)));
    }));
  };
  const name = field("새 음식 New food", { maxlength: 100 });
  const price = field("가격 Price", { type: "number", min: 1, max: 10000000 });
  const add = button("추가 Add", async () => {
    if (!name.input.value.trim() || !(Number(price.input.value) > 0)) throw new Error("이름과 가격을 넣어 주세요 · a name and a price");
    foods.push({ name: name.input.value.trim(), price: Number(price.input.value), soldOut: false });
    name.input.value = ""; price.input.value = "";
    draw();
  }, report, { class: "ghost" });
  const save = button("메뉴 저장 Save menu", async () => {
    const saved = await api("PUT", `/stores/${store.storeId}/menu`, {
      foods: foods.map((f) => ({ foodId: f.foodId, name: f.name, price: f.price, soldOut: f.soldOut })),
    });
    foods.splice(0, foods.length, ...saved.foods.map((f) => ({ ...f })));
    draw();
    report.ok("저장했습니다 · saved");
  }, report);
  const toggle = button("영업 시작/일시 중지 Open or pause", async () => {
    const changed = await api("POST", `/stores/${store.storeId}/${detail.open ? "pause" : "open"}`);
    detail.open = changed.open;
    draw();
  }, report, { class: "ghost" });
  draw();
  show(root, h("h2", null, `${store.name} 메뉴 Menu`), report.element, h("div", { class: "row" }, state, toggle),
    h("table", null, h("thead", null, h("tr", null, ["음식 Food", "가격 Price", "품절 Sold out", ""].map((t) => h("th", { scope: "col" }, t)))), list),
    h("div", { class: "row" }, name.element, price.element, add), save);
}

async function counts(root, store) {
  const report = notice();
  show(root, h("h2", null, "음식별 주문 수 Food counts"), report.element);
  try {
    const all = await api("GET", `/stores/${store.storeId}/food-counts`);
    root.append(h("table", null,
      h("thead", null, h("tr", null, ["음식 Food", "주문 Orders", "수량 Units"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", null, all.map((c) => h("tr", null, h("td", null, c.name), h("td", { class: "num" }, c.orders), h("td", { class: "num" }, c.quantity))))));
  } catch (error) {
    report.fail(error);
  }
}
