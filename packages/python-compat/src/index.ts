// Python's ways, imitated exactly where clients or hashes depend on them: dicts that keep key
// order (ordered-json) and repr()/json.dumps() texts (python-format). Pure, no I/O.
export * from "./ordered-json.ts";
export * from "./python-format.ts";
