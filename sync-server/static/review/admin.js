// The admin page's buttons (issue 11); a file of its own so the Content-Security-Policy needs no inline script (issue 24).
const zh = document.documentElement.lang === "zh-CN";
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c])); }
async function sendResidents(dry) {
  const f = document.getElementById("residents-file").files[0];
  const out = document.getElementById("residents-result");
  if (!f) { out.textContent = zh ? "请选择文件" : "Choose a file"; return; }
  out.textContent = zh ? "处理中…" : "Working…";
  const r = await fetch("/review/api/admin/residents/import" + (dry ? "?dry_run=1" : ""), {method: "POST", body: await f.arrayBuffer()});
  const j = await r.json();
  if (r.ok) {
    out.innerHTML = '<div class="notice">' + (j.dry_run ? (zh ? "校验通过：" : "The file is clean: ") : (zh ? "导入完成：" : "Imported: ")) + j.households + (zh ? " 户，" : " households, ") + j.persons + (zh ? " 人" : " persons") + "</div>";
    return;
  }
  let html = '<p class="pill light-red">' + esc(zh ? j.message_zh : j.message) + "</p>";
  if (j.issues && j.issues.length) {
    html += "<table id='residents-report'><thead><tr><th>" + (zh ? "行" : "Row") + "</th><th>" + (zh ? "列" : "Column") + "</th><th>" + (zh ? "原因" : "Reason") + "</th></tr></thead><tbody>";
    for (const i of j.issues) html += "<tr><td>" + i.row + "</td><td>" + esc(zh ? i.column_zh : i.column) + "</td><td>" + esc(zh ? i.message_zh : i.message) + "</td></tr>";
    html += "</tbody></table>";
  }
  out.innerHTML = html;
}
document.getElementById("residents-check").onclick = () => sendResidents(true);
document.getElementById("residents-import").onclick = () => sendResidents(false);
document.getElementById("template-publish").onclick = async () => {
  const out = document.getElementById("template-result");
  const r = await fetch("/review/api/admin/templates", {method: "POST", headers: {"content-type": "application/json"}, body: document.getElementById("template-json").value});
  const j = await r.json();
  if (r.ok) { out.innerHTML = '<div class="notice">' + (zh ? "已发布版本 " : "Published version ") + j.version + "</div>"; document.getElementById("template-version").textContent = j.version; }
  else out.innerHTML = '<p class="pill light-red">' + esc(zh ? j.message_zh : j.message) + " (" + esc(j.code) + ")</p>";
};
document.getElementById("rule-publish").onclick = async () => {
  const out = document.getElementById("rule-result");
  const rule = document.getElementById("rule-kind").value;
  const r = await fetch("/review/api/admin/rules/" + encodeURIComponent(rule), {method: "POST", headers: {"content-type": "application/json"}, body: document.getElementById("rule-json").value});
  const j = await r.json();
  if (r.ok) { out.innerHTML = '<div class="notice">' + (zh ? "已发布版本 " : "Published version ") + j.version + "</div>"; document.getElementById("rule-version-" + rule).textContent = j.version; }
  else out.innerHTML = '<p class="pill light-red">' + esc(zh ? j.message_zh : j.message) + " (" + esc(j.code) + ")</p>";
};
