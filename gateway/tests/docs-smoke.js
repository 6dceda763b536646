// Runs the /docs page's script against an OpenAPI document with a minimal
// stand-in DOM and prints how many operations it rendered (no browser here).
//   node tests/docs-smoke.js DOCS_HTML OPENAPI_JSON
"use strict";
const fs = require("fs");
const [html, specFile] = process.argv.slice(2);
const page = fs.readFileSync(html, "utf8");
const script = page.slice(page.indexOf("<script>") + 8, page.indexOf("</script>"));

function node(tag) {
  return {
    tag, children: [], attrs: {}, dataset: {}, style: {}, className: "", textContent: "", value: "",
    append(...c) { this.children.push(...c); },
    setAttribute(k, v) { this.attrs[k] = v; },
  };
}
const ids = {};
global.document = {
  title: "",
  createElement: node,
  getElementById(id) { return ids[id] || (ids[id] = node("div")); },
  querySelectorAll() { return []; },
};
const spec = fs.readFileSync(specFile, "utf8");
// Serve the document to the page's own fetch, then count after it rendered.
global.fetch = async () => ({ json: async () => JSON.parse(spec) });
new Function(script)();
setTimeout(() => {
  let operations = 0;
  const walk = (n) => {
    if (n && n.className === "op") operations++;
    (n && n.children || []).forEach(walk);
  };
  walk(ids.content);
  const subtitle = ids.subtitle ? ids.subtitle.textContent : "";
  if (subtitle.startsWith("Cannot load")) {
    console.error(subtitle);
    process.exit(1);
  }
  console.log(JSON.stringify({ operations, title: ids.title.textContent }));
}, 50);
