// The customer: stores and menus, an order with its address and position, the order followed
// live to its end (cancel, confirm receipt, review), messages, grade and coupons.
import { api, follow } from "./api.js";
import { h, show, field, notice, button } from "./dom.js";
import { won, time, dateTime, status } from "./format.js";
import { reviews, reviewOf } from "./reviews.js";

export const links = [
  ["#/", "가게 Stores"],
  ["#/orders", "주문 내역 My orders"],
  ["#/payments", "결제 Payments"],
  ["#/me", "내 정보 Grade & coupons"],
  ["#/notifications", "알림 Notifications"],
];

export function screen(path) {
  let match;
  if ((match = path.match(/^\/stores\/([\w-]+)$/))) return (root) => store(root, match[1]);
  if ((match = path.match(/^\/orders\/([\w-]+)$/))) return (root) => order(root, match[1]);
  if (path === "/orders") return orders;
  if (path === "/me") return me;
  if (path === "/payments") return payments;
  if (path === "/notifications") return notifications;
  return stores;
}

async function stores(root) {
  const report = notice();
  show(root, h("h2", null, "가게 Stores"), report.element);
  try {
    const all = await api("GET", "/stores");
    root.append(h("ul", { class: "cards" }, all.map((s) =>
      h("li", { class: "card" },
        h("h3", null, h("a", { href: `#/stores/${s.storeId}` }, s.name)),
        h("p", { class: s.open ? "ok" : "muted" }, s.open ? "영업 중 · Open" : "준비 중 · Paused")))));
  } catch (error) {
    report.fail(error);
  }
}

async function store(root, storeId) {
  const report = notice();
  show(root, report.element);
  let detail;
  try {
    detail = await api("GET", `/stores/${storeId}`);
  } catch (error) {
    report.fail(error);
    return;
  }
  const cart = new Map();
  const total = h("strong", { "aria-live": "polite" }, won(0));
  const recount = () => {
    let sum = 0;
    for (const food of detail.foods) sum += (cart.get(food.foodId) ?? 0) * food.price;
    total.textContent = won(sum);
  };
  const rows = detail.foods.map((food) => {
    const quantity = field(`${food.name} 수량`, { type: "number", min: 0, max: 99, value: 0, inputmode: "numeric", disabled: food.soldOut, class: "qty" });
    quantity.input.addEventListener("input", () => { cart.set(food.foodId, Number(quantity.input.value) || 0); recount(); });
    return h("tr", { class: food.soldOut ? "sold-out" : undefined },
      h("td", null, food.name), h("td", { class: "num" }, won(food.price)),
      h("td", null, food.soldOut ? h("span", { class: "muted" }, "품절 Sold out") : quantity.element));
  });
  const address = field("배달 주소 Address", { value: "", required: true, autocomplete: "street-address", placeholder: "서울 강남구 테헤란로 1" });
  const lat = field("위도 Latitude", { type: "number", step: "any", min: -90, max: 90, required: true });
  const lng = field("경도 Longitude", { type: "number", step: "any", min: -180, max: 180, required: true });
  const card = field("카드 Card token", { value: "tok_visa", required: true });
  const locate = button("현재 위치 Use my location", () => new Promise((resolve, reject) => {
    if (!navigator.geolocation) { reject(new Error("위치를 쓸 수 없습니다 · no geolocation")); return; }
    navigator.geolocation.getCurrentPosition((position) => {
      lat.input.value = position.coords.latitude.toFixed(5);
      lng.input.value = position.coords.longitude.toFixed(5);
      resolve();
    }, () => reject(new Error("위치 사용이 허용되지 않았습니다 · location not allowed")), { timeout: 10000 });
  }), report, { class: "ghost" });
  const form = h("form", { class: "card", "aria-label": "주문 Order" },
    h("table", null, h("caption", null, "메뉴 Menu"), h("tbody", null, rows)),
    address.element, h("div", { class: "row" }, lat.element, lng.element, locate), card.element,
    h("div", { class: "row" }, h("button", { type: "submit", disabled: !detail.open }, "주문하기 Order"), total),
    detail.open ? null : h("p", { class: "muted" }, "이 가게는 지금 주문을 받지 않습니다 · the store is paused"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    report.clear();
    const items = [...cart].filter(([, quantity]) => quantity > 0).map(([foodId, quantity]) => ({ foodId, quantity }));
    try {
      const placed = await api("POST", "/orders", {
        storeId,
        items,
        deliveryAddress: { text: address.input.value, lat: Number(lat.input.value), lng: Number(lng.input.value) },
        payment: { method: "card", cardToken: card.input.value },
      });
      location.hash = `#/orders/${placed.orderId}`;
    } catch (error) {
      report.fail(error);
    }
  });
  show(root, h("h2", null, detail.name), report.element, form, reviews(storeId));
}

async function orders(root) {
  const report = notice();
  const list = h("ul", { class: "cards" });
  const more = h("div");
  show(root, h("h2", null, "주문 내역 My orders"), report.element, list, more);
  const page = async (before) => {
    try {
      const query = before ? `?limit=10&before=${before}` : "?limit=10";
      const { orders: found, nextBefore } = await api("GET", `/mypage/orders${query}`);
      list.append(...found.map((o) => h("li", { class: "card" },
        h("h3", null, h("a", { href: `#/orders/${o.orderId}` }, `${o.storeName} · ${won(o.amount)}`)),
        h("p", null, status(o.status), " · ", dateTime(o.placedAt)))));
      show(more, nextBefore ? button("더 보기 More", () => page(nextBefore), report, { class: "ghost" }) : null);
      if (!list.children.length) list.append(h("li", { class: "muted" }, "아직 주문이 없습니다 · no orders yet"));
    } catch (error) {
      report.fail(error);
    }
  };
  await page(null);
}

function order(root, orderId) {
  const report = notice();
  const live = h("span", { class: "muted", "aria-live": "polite" }, "연결 중 · connecting");
  const body = h("div");
  show(root, h("h2", null, "주문 Order ", live), report.element, body);
  const render = (o) => {
    const actions = [];
    if (["Placed", "Accepted"].includes(o.status)) {
      actions.push(button("주문 취소 Cancel", () => api("POST", `/orders/${orderId}/cancel`), report, { class: "danger" }));
    }
    if (o.status === "Delivered") {
      actions.push(button("수령 확인 Confirm receipt", () => api("POST", `/orders/${orderId}/confirm-receipt`), report));
    }
    show(body,
      h("section", { class: "card" },
        h("p", { class: "status", "data-status": o.status }, status(o.status)),
        h("p", null, o.storeName, " · ", won(o.amount), o.refunded ? " · 환불됨 refunded" : ""),
        o.readyAt ? h("p", null, "조리 완료 예정 Ready at ", time(o.readyAt)) : null,
        h("ul", null, o.items.map((line) => h("li", null, `${line.name} × ${line.quantity} · ${won(line.unitPrice * line.quantity)}`))),
        h("div", { class: "row" }, actions)),
      h("section", { class: "card" },
        h("h3", null, "진행 Timeline"),
        h("ol", { class: "timeline" }, o.timeline.map((step) => h("li", null, time(step.at), " ", status(step.status), step.note ? ` · ${step.note}` : "")))),
      payment,
      o.status === "Completed" ? review(o, report) : null);
  };
  // The charge, and its refund once there is one: read again when the order changes.
  const payment = h("section", { class: "card", "aria-label": "결제 Payment" });
  const readPayment = () => api("GET", `/payments/${orderId}`).then((p) => {
    show(payment, h("h3", null, "결제 Payment"),
      h("p", null, `${won(p.amount)} · ${p.method} · ${p.status}`),
      p.refund ? h("p", null, `환불 Refund ${won(p.refund.amount)} · ${p.refund.status} · ${p.refund.reason}`) : null);
  }, () => show(payment));
  return follow(`/orders/${orderId}/events`, (event, data) => {
    if (event === "order") { render(data); readPayment(); }
    if (event === "reset") api("GET", `/mypage/orders/${orderId}`).then(render, (e) => report.fail(e));
  }, (state, error) => {
    live.textContent = { live: "실시간 · live", reconnecting: "다시 연결 중 · reconnecting" }[state] ?? "";
    if (error) report.fail(error);
  });
}

function review(o, report) {
  const key = `baedal.review.${o.orderId}`;
  const section = h("section", { class: "card" });
  const draw = async () => {
    let written = localStorage.getItem(key);
    if (!written) {
      // Written elsewhere (another browser): the store's reviews name their order.
      written = (await reviewOf(o.storeId, o.orderId).catch(() => null))?.reviewId ?? null;
      if (written) localStorage.setItem(key, written);
    }
    if (written) {
      show(section, h("h3", null, "리뷰 Review"), h("p", null, "리뷰를 남겼습니다 · reviewed"),
        button("리뷰 삭제 Delete review", async () => {
          await api("DELETE", `/reviews/${written}`);
          localStorage.removeItem(key);
          draw();
        }, report, { class: "danger" }));
      return;
    }
    const rating = field("별점 Rating", { options: [5, 4, 3, 2, 1].map((n) => [n, "★".repeat(n)]), value: 5 });
    const text = field("리뷰 Review", { maxlength: 500 });
    const form = h("form", null, h("h3", null, "리뷰 쓰기 Write a review"), rating.element, text.element,
      h("button", { type: "submit" }, "등록 Post"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        const written = await api("POST", "/reviews", { orderId: o.orderId, rating: Number(rating.input.value), text: text.input.value });
        localStorage.setItem(key, written.reviewId);
        report.ok("리뷰가 등록되었습니다. 쿠폰이 발급됩니다 · reviewed; a coupon follows");
        draw();
      } catch (error) {
        report.fail(error);
      }
    });
    show(section, form);
  };
  draw();
  return section;
}

async function payments(root) {
  const report = notice();
  show(root, h("h2", null, "결제 Payments"), report.element);
  try {
    const all = await api("GET", "/payments?limit=50");
    root.append(h("table", null,
      h("thead", null, h("tr", null, ["일시 When", "금액 Amount", "상태 Status", "주문 Order"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", null, all.map((p) => h("tr", null,
        h("td", null, dateTime(p.createdAt)), h("td", { class: "num" }, won(p.amount)), h("td", null, p.status),
        h("td", null, h("a", { href: `#/orders/${p.orderId}` }, p.orderId.slice(0, 8))))))));
    if (!all.length) root.append(h("p", { class: "muted" }, "결제 내역이 없습니다 · no payments yet"));
  } catch (error) {
    report.fail(error);
  }
}

async function me(root) {
  const report = notice();
  show(root, h("h2", null, "내 정보 Grade & coupons"), report.element);
  try {
    const profile = await api("GET", "/customers/me");
    root.append(h("section", { class: "card" },
      h("p", null, "등급 Grade: ", h("strong", null, profile.grade)),
      h("p", null, `완료한 주문 Completed orders: ${profile.completedOrders}`),
      h("h3", null, `쿠폰 Coupons (${profile.couponCount})`),
      h("ul", null, profile.coupons.map((c) => h("li", null, `리뷰 쿠폰 Review coupon · ${dateTime(c.issuedAt)} · ${c.status}`)))));
  } catch (error) {
    report.fail(error);
  }
}

async function notifications(root) {
  const report = notice();
  show(root, h("h2", null, "알림 Notifications"), report.element);
  try {
    const all = await api("GET", "/notifications");
    root.append(h("ul", { class: "cards" }, all.map((n) =>
      h("li", { class: "card" }, h("p", null, n.message), h("p", { class: "muted" }, dateTime(n.createdAt), " · ", n.status)))));
    if (!all.length) root.append(h("p", { class: "muted" }, "알림이 없습니다 · nothing yet"));
  } catch (error) {
    report.fail(error);
  }
}

