// The rider: a position (typed or from the browser), deliveries waiting nearby as they open and
// close, each with its distance and the store-to-customer route, picking and completing, and the
// rider's own count.
import { api, follow, session } from "./api.js";
import { h, show, field, notice, button } from "./dom.js";
import { km, time, status, distanceKm } from "./format.js";

export const links = [["#/", "배달 Deliveries"]];

export function screen() {
  return deliveries;
}

const place = { lat: 37.4979, lng: 127.0276, radiusKm: 3 };

function deliveries(root) {
  const report = notice();
  const live = h("span", { class: "muted", "aria-live": "polite" });
  const lat = field("위도 Latitude", { type: "number", step: "any", min: -90, max: 90, value: place.lat });
  const lng = field("경도 Longitude", { type: "number", step: "any", min: -180, max: 180, value: place.lng });
  const radius = field("반경 Radius (km)", { type: "number", step: "any", min: 0.1, max: 50, value: place.radiusKm });
  const waiting = h("ul", { class: "cards", "aria-label": "배달 대기 Waiting deliveries" });
  const mine = h("ul", { class: "cards", "aria-label": "내 배달 My deliveries" });
  const stats = h("p");
  const byId = new Map();
  let stop = null;

  const card = (d, actions) => h("li", { class: "card", id: `delivery-${d.deliveryId}`, dataset: { status: d.status } },
    h("h3", null, d.storeName),
    h("p", null, d.distanceKm !== undefined ? `가게까지 To the store ${km(d.distanceKm)} · ` : "",
      `배달 경로 Route ${km(distanceKm(d.pickup, d.dropoff))}`),
    h("p", null, d.dropoff.text),
    h("p", { class: "status" }, status(d.status)),
    h("div", { class: "row" }, actions));
  const drawWaiting = () => {
    const open = [...byId.values()].sort((a, b) => a.distanceKm - b.distanceKm);
    show(waiting, open.length ? open.map((d) => card(d, [
      button("배달 잡기 Pick", async () => {
        const picked = await api("POST", `/deliveries/${d.deliveryId}/pick`);
        byId.delete(d.deliveryId);
        drawWaiting();
        mine.prepend(card(picked, complete(picked)));
      }, report),
    ])) : h("li", { class: "muted" }, "주변에 대기 중인 배달이 없습니다 · nothing waiting nearby"));
  };
  const complete = (d) => [button("배달 완료 Delivered", async () => {
    const done = await api("POST", `/deliveries/${d.deliveryId}/complete`);
    document.getElementById(`delivery-${d.deliveryId}`)?.replaceWith(card(done, []));
    refreshStats();
  }, report)];
  const refreshStats = async () => {
    try {
      const s = await api("GET", `/riders/${session.subject}/stats`);
      stats.textContent = `배달 완료 Delivered: ${s.delivered}${s.lastDeliveredAt ? ` · 마지막 Last ${time(s.lastDeliveredAt)}` : ""}`;
    } catch (error) {
      report.fail(error);
    }
  };
  const watch = () => {
    stop?.();
    Object.assign(place, { lat: Number(lat.input.value), lng: Number(lng.input.value), radiusKm: Number(radius.input.value) });
    byId.clear();
    const query = new URLSearchParams({ lat: place.lat, lng: place.lng, radiusKm: place.radiusKm });
    api("GET", `/deliveries/available?${query}`).then((found) => {
      for (const d of found) byId.set(d.deliveryId, d);
      drawWaiting();
    }, (error) => report.fail(error));
    stop = follow(`/deliveries/events?${query}`, (event, d) => {
      if (event === "opened") byId.set(d.deliveryId, d);
      if (event === "closed") byId.delete(d.deliveryId);
      if (event === "reset") { watch(); return; }
      drawWaiting();
    }, (state, error) => {
      live.textContent = { live: "실시간 · live", reconnecting: "다시 연결 중 · reconnecting" }[state] ?? "";
      if (error) report.fail(error);
    });
  };
  const form = h("form", { class: "card", "aria-label": "내 위치 My position" },
    h("div", { class: "row" }, lat.element, lng.element, radius.element),
    h("div", { class: "row" },
      h("button", { type: "submit" }, "이 위치로 찾기 Search here"),
      button("현재 위치 Use my location", () => new Promise((resolve, reject) => {
        if (!navigator.geolocation) { reject(new Error("위치를 쓸 수 없습니다 · no geolocation")); return; }
        navigator.geolocation.getCurrentPosition((p) => {
          lat.input.value = p.coords.latitude.toFixed(5);
          lng.input.value = p.coords.longitude.toFixed(5);
          watch();
          resolve();
        }, () => reject(new Error("위치 사용이 허용되지 않았습니다 · location not allowed")), { timeout: 10000 });
      }), report, { class: "ghost" })));
  form.addEventListener("submit", (event) => { event.preventDefault(); report.clear(); watch(); });
  show(root, h("h2", null, "배달 대기 Deliveries near me ", live), report.element, form, waiting,
    h("h2", null, "내 배달 My deliveries"), stats, mine);
  watch();
  refreshStats();
  return () => stop?.();
}
