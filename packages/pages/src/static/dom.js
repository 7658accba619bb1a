// The DOM helpers the pages' scripts share: finding elements and building
// them without HTML strings, so no text from the server is ever parsed as markup.

/** The element with this id, or null. */
export const byId = (id) => document.getElementById(id);

/**
 * `el("p", { className: "x" }, "text", child)`: an element with properties
 * (`data-*` and `aria-*` as attributes) and children; arrays of children are
 * flattened, and undefined, null and false are left out.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
