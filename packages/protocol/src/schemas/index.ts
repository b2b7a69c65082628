// All wire schemas in one place for `import { … } from "@cairn/protocol"`.
export * from "./common.js";
export * from "./session.js";
export * from "./datastore-api.js";
export * from "./access.js";
export * from "./tasks.js";
