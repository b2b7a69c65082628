// Access routes: tickets from passwords, users, API tokens and ACL entries
// (spec: protocol.md "Transport and trust"). Secrets travel only in request bodies and answers
// of the create calls; the server stores hashes.

import { type Static, Type } from "@sinclair/typebox";
import { AuthId, Data, Role, TokenId, Userid } from "./common.js";

export const AclPath = Type.String({
  pattern: "^/(datastore(/[A-Za-z0-9_][A-Za-z0-9._\\-]*(/[A-Za-z0-9_][A-Za-z0-9._\\-]*){0,7})?)?$",
  maxLength: 300,
});

export const AclEntry = Type.Object({ path: AclPath, role: Role, "auth-id": AuthId, propagate: Type.Boolean() });
export type AclEntry = Static<typeof AclEntry>;

export const UserInfo = Type.Object({
  userid: Userid,
  enable: Type.Boolean(),
  comment: Type.Optional(Type.String()),
  tokens: Type.Optional(Type.Array(Type.String())),
});
export type UserInfo = Static<typeof UserInfo>;

export const TicketResult = Type.Object({ username: Userid, ticket: Type.String(), expires: Type.Integer() });
export type TicketResult = Static<typeof TicketResult>;

export const TokenResult = Type.Object({ tokenid: TokenId, value: Type.String() });
export type TokenResult = Static<typeof TokenResult>;

export const AccessRoutes = {
  ticket: {
    method: "POST",
    url: "/api2/json/access/ticket",
    schema: {
      body: Type.Object({ username: Userid, password: Type.String({ minLength: 1, maxLength: 1024 }) }),
      response: { 200: Data(TicketResult) },
    },
  },
  listUsers: {
    method: "GET",
    url: "/api2/json/access/users",
    schema: { response: { 200: Data(Type.Array(UserInfo)) } },
  },
  createUser: {
    method: "POST",
    url: "/api2/json/access/users",
    schema: {
      body: Type.Object({
        userid: Userid,
        password: Type.Optional(Type.String({ minLength: 8, maxLength: 1024 })),
        comment: Type.Optional(Type.String({ maxLength: 1024 })),
      }),
      response: { 200: Data(Type.Null()) },
    },
  },
  createToken: {
    method: "POST",
    url: "/api2/json/access/users/:userid/token/:name",
    schema: {
      params: Type.Object({ userid: Userid, name: Type.String({ pattern: "^[A-Za-z0-9_][A-Za-z0-9._\\-]*$", maxLength: 64 }) }),
      response: { 200: Data(TokenResult) },
    },
  },
  getAcl: {
    method: "GET",
    url: "/api2/json/access/acl",
    schema: { response: { 200: Data(Type.Array(AclEntry)) } },
  },
  setAcl: {
    method: "PUT",
    url: "/api2/json/access/acl",
    schema: {
      body: Type.Object({
        path: AclPath,
        role: Role,
        "auth-id": AuthId,
        propagate: Type.Optional(Type.Boolean()),
        delete: Type.Optional(Type.Boolean()),
      }),
      response: { 200: Data(Type.Null()) },
    },
  },
} as const;
