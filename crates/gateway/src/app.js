"use strict";
const state = { token: null, role: null, subject: null, store: null, cart: {}, mine: {} };
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
const won = (n) => Number(n).toLocaleString("ko-KR") + "원";
const time = (ms) => ms ? new Date(ms).toLocaleTimeString("ko-KR") : "";

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "content-type": "application/json", ...(state.token ? { authorization: "Bearer " + state.token } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = new Error(data?.detail || data?.title || response.statusText);
    error.code = data?.code;
    throw error;
  }
  return data;
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const login = await api("POST", "/auth/login", { username: $("username").value, password: $("password").value });
    Object.assign(state, { token: login.token, role: login.role, subject: login.subjectId });
    $("who").textContent = $("username").value + " · " + login.role;
    $("login").hidden = true;
    const app = $("app");
    const view = ["customer", "owner", "rider"].includes(login.role) ? login.role : "customer";
    app.replaceChildren($(view).content.cloneNode(true));
    app.hidden = false;
    ({ customer: startCustomer, owner: startOwner, rider: startRider })[view]();
  } catch (error) {
    $("login-error").textContent = error.message;
  }
});

function every(ms, job) { job(); setInterval(job, ms); }

// Customer: browse, order and pay, follow the order live, read messages.
async function startCustomer() {
  const stores = await api("GET", "/stores");
  $("stores").innerHTML = stores.map((s) =>
    `<tr><td>${esc(s.name)}</td><td>${s.open ? "영업 중" : "준비 중"}</td><td><button class="ghost" data-store="${esc(s.storeId)}">메뉴</button></td></tr>`).join("");
  $("stores").onclick = (e) => e.target.dataset.store && showMenu(e.target.dataset.store);
  $("order").onclick = placeOrder;
  every(1500, refreshOrders);
}

async function showMenu(storeId) {
  const store = await api("GET", "/stores/" + storeId);
  state.store = store; state.cart = {};
  $("store-name").textContent = store.name;
  $("menu").innerHTML = store.foods.map((f) =>
    `<tr><td>${esc(f.name)}</td><td>${won(f.price)}</td><td>${f.soldOut ? '<span class="muted">품절</span>' :
      `<input type="number" min="0" max="99" value="0" data-food="${esc(f.foodId)}" class="qty">`}</td></tr>`).join("");
  $("menu").oninput = (e) => { state.cart[e.target.dataset.food] = Number(e.target.value); updateTotal(); };
  updateTotal();
}

function updateTotal() {
  const foods = state.store?.foods || [];
  const total = foods.reduce((sum, f) => sum + f.price * (state.cart[f.foodId] || 0), 0);
  $("total").textContent = total ? won(total) : "";
  $("order").disabled = !total;
}

async function placeOrder() {
  $("order-error").textContent = "";
  const items = Object.entries(state.cart).filter(([, q]) => q > 0).map(([foodId, quantity]) => ({ foodId, quantity }));
  const [lat, lng] = [37.501, 127.036];
  try {
    await api("POST", "/orders", {
      storeId: state.store.storeId, items,
      deliveryAddress: { text: $("address").value, lat, lng },
      payment: { method: "card", cardToken: $("card").value },
    });
    showMenu(state.store.storeId);
    refreshOrders();
  } catch (error) {
    $("order-error").textContent = error.message + (error.code ? ` (${error.code})` : "");
  }
}

async function refreshOrders() {
  const page = await api("GET", "/mypage/orders?limit=10");
  $("orders").innerHTML = page.orders.map((o) => `<tr>
      <td>${esc(o.storeName)}<div class="muted">${time(o.placedAt)} · ${won(o.amount)}${o.refunded ? " · 환불됨" : ""}</div></td>
      <td><span class="status">${esc(o.status)}</span>${o.readyAt ? `<div class="muted">예상 ${time(o.readyAt)}</div>` : ""}</td>
      <td><ol class="timeline">${o.timeline.map((s) => `<li>${esc(s.status)} ${time(s.at)}${s.note ? ` <span class="muted">${esc(s.note)}</span>` : ""}</li>`).join("")}</ol></td>
      <td>${["Placed", "Accepted"].includes(o.status) ? `<button class="ghost" data-cancel="${esc(o.orderId)}">취소</button>` : ""}
          ${o.status === "Delivered" ? `<button data-confirm="${esc(o.orderId)}">수령 확인</button>` : ""}</td></tr>`).join("");
  $("orders").onclick = async (e) => {
    const { cancel, confirm } = e.target.dataset;
    if (cancel) await api("POST", `/orders/${cancel}/cancel`).catch((err) => alert(err.message));
    if (confirm) await api("POST", `/orders/${confirm}/confirm-receipt`).catch((err) => alert(err.message));
    refreshOrders();
  };
  const notes = await api("GET", "/notifications?limit=8");
  $("notifications").innerHTML = notes.map((n) =>
    `<tr><td>${esc(n.message)}</td><td class="muted">${esc(n.status)}</td><td class="muted">${time(n.createdAt)}</td></tr>`).join("");
}

// Owner: the store's orders and the buttons that move them.
async function startOwner() {
  const stores = await api("GET", "/stores");
  state.store = stores.find((s) => s.ownerId === state.subject);
  if (!state.store) { $("owner-error").textContent = "no store for this owner"; return; }
  $("owner-store").textContent = state.store.name;
  every(1500, refreshStore);
}

async function refreshStore() {
  const id = state.store.storeId;
  const orders = await api("GET", `/stores/${id}/orders?limit=500`);
  const actions = { Placed: ["accept", "reject"], Accepted: ["cook-start"], Cooking: ["cook-finish"] };
  $("store-orders").innerHTML = orders.slice(-15).reverse().map((o) => `<tr>
      <td>${time(o.placedAt)}<div class="muted">${esc(o.deliveryAddress.text)}</div></td>
      <td>${o.items.map((i) => `${esc(i.name)} × ${i.quantity}`).join("<br>")}</td>
      <td>${won(o.amount)}</td><td><span class="status">${esc(o.status)}</span></td>
      <td class="row">${(actions[o.status] || []).map((a) => `<button data-order="${esc(o.orderId)}" data-action="${a}">${a}</button>`).join("")}</td></tr>`).join("");
  $("store-orders").onclick = async (e) => {
    const { order, action } = e.target.dataset;
    if (!order) return;
    const body = action === "accept" ? { cookMinutes: 15 } : action === "reject" ? { reason: "재료 소진" } : undefined;
    await api("POST", `/stores/${id}/orders/${order}/${action}`, body).catch((err) => ($("owner-error").textContent = err.message));
    refreshStore();
  };
  const counts = await api("GET", `/stores/${id}/food-counts`);
  $("counts").innerHTML = counts.map((c) => `<tr><td>${esc(c.name)}</td><td>${c.orders}건</td><td>${c.quantity}개</td></tr>`).join("");
}

// Rider: deliveries waiting near a position; pick one, deliver it.
function startRider() { every(1500, refreshRider); }

async function refreshRider() {
  const q = `lat=${$("lat").value}&lng=${$("lng").value}&radiusKm=${$("radius").value}`;
  try {
    const list = await api("GET", "/deliveries/available?" + q);
    $("available").innerHTML = list.map((d) => `<tr><td>${esc(d.storeName)}</td><td>${d.distanceKm} km</td>
      <td>${esc(d.dropoff.text)}</td><td><button data-pick="${esc(d.deliveryId)}">배차 Pick</button></td></tr>`).join("")
      || '<tr><td class="muted">대기 중인 배달이 없습니다</td></tr>';
    $("rider-error").textContent = "";
  } catch (error) { $("rider-error").textContent = error.message; }
  $("available").onclick = async (e) => {
    const id = e.target.dataset.pick;
    if (!id) return;
    try { state.mine[id] = await api("POST", `/deliveries/${id}/pick`); }
    catch (error) { $("rider-error").textContent = error.message; }
    refreshRider();
  };
  $("mine").innerHTML = Object.values(state.mine).map((d) => `<tr><td>${esc(d.storeName)}</td><td>${esc(d.dropoff.text)}</td>
    <td><span class="status">${esc(d.status)}</span></td>
    <td>${d.status === "Picked" ? `<button data-complete="${esc(d.deliveryId)}">배달 완료</button>` : ""}</td></tr>`).join("");
  $("mine").onclick = async (e) => {
    const id = e.target.dataset.complete;
    if (!id) return;
    state.mine[id] = await api("POST", `/deliveries/${id}/complete`).catch((err) => { alert(err.message); return state.mine[id]; });
    refreshRider();
  };
  const stats = await api("GET", `/riders/${state.subject}/stats`);
  $("stats").textContent = `완료한 배달 ${stats.delivered}건`;
}
