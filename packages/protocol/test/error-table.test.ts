import { describe, expect, it } from "vitest";
import { ERROR_STATUS, ProtocolError, errorFromBody, statusOf, toProtocolError } from "../src/index.js";

describe("error table", () => {
  it("maps the codes of the spec to their statuses", () => {
    expect(ERROR_STATUS.ERR_AUTH).toBe(401);
    expect(ERROR_STATUS.ERR_FORBIDDEN).toBe(403);
    expect(ERROR_STATUS.ERR_NOT_OWNER).toBe(403);
    expect(ERROR_STATUS.ERR_BAD_NAME).toBe(400);
    expect(ERROR_STATUS.ERR_NOT_FOUND).toBe(404);
    expect(ERROR_STATUS.ERR_LOCKED).toBe(409);
    expect(ERROR_STATUS.ERR_BACKUP_RUNNING).toBe(409);
    expect(ERROR_STATUS.ERR_PROTECTED).toBe(409);
    expect(statusOf("ERR_SOMETHING_ELSE")).toBe(500);
  });

  it("keeps the code of foreign errors found in the table, else ERR_INTERNAL", () => {
    const e = Object.assign(new Error("locked"), { code: "ERR_LOCKED" });
    expect(toProtocolError(e).status).toBe(409);
    expect(toProtocolError(new Error("boom")).code).toBe("ERR_INTERNAL");
  });

  it("maps a full disk (ENOSPC, EDQUOT) to ERR_NO_SPACE 507, which survives the wire", () => {
    for (const errno of ["ENOSPC", "EDQUOT"]) {
      const e = toProtocolError(Object.assign(new Error(`${errno}: no space left on device, write`), { code: errno }));
      expect(e.code).toBe("ERR_NO_SPACE");
      expect(e.status).toBe(507);
      expect(errorFromBody(507, JSON.parse(JSON.stringify(e.toBody()))).code).toBe("ERR_NO_SPACE");
    }
  });

  it("round-trips through an error body", () => {
    const e = new ProtocolError("ERR_NOT_OWNER", "not yours");
    const back = errorFromBody(403, JSON.parse(JSON.stringify(e.toBody())));
    expect(back.code).toBe("ERR_NOT_OWNER");
    expect(back.message).toBe("not yours");
    expect(errorFromBody(401, "nonsense").code).toBe("ERR_AUTH");
  });
});
