// A real Better Auth server for interop's Go tests, on loopback only.
//
// Environment: PORT (required), ALG (EdDSA by default; ES256 or RS256).
// Better Auth's routes are under /api/auth. Two routes are for the tests:
//   POST /test/rotate        mints a new signing key (Better Auth's createJwk), so
//                            the next token carries a new kid.
//   POST /test/set-role      {userId, role}: sets a user's role in the in-memory
//                            database, as the admin plugin's setRole would.
//   POST /test/jose-verify   {token, jwksUrl, issuer, audience, typ}: verifies a token
//                            with jose's jwtVerify over createRemoteJWKSet(jwksUrl).
// It prints "listening <port>" once it accepts connections.
import http from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { jwt, admin } from "better-auth/plugins";
import { createJwk } from "better-auth/plugins/jwt";
import { createRemoteJWKSet, jwtVerify } from "jose";

const port = Number(process.env.PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error("PORT must be set");
  process.exit(2);
}
const alg = process.env.ALG || "EdDSA";
const keyPairConfigs = {
  EdDSA: { alg: "EdDSA", crv: "Ed25519" },
  ES256: { alg: "ES256" },
  ES512: { alg: "ES512" },
  RS256: { alg: "RS256", modulusLength: 2048 },
  PS256: { alg: "PS256", modulusLength: 2048 },
};
if (!keyPairConfigs[alg]) {
  console.error(`ALG ${alg} is not one of ${Object.keys(keyPairConfigs)}`);
  process.exit(2);
}
const baseURL = `http://127.0.0.1:${port}`;
const db = { user: [], session: [], account: [], verification: [], jwks: [] };
const jwtOptions = { jwks: { keyPairConfig: keyPairConfigs[alg] } };
const auth = betterAuth({
  baseURL,
  secret: "interop-test-secret-not-for-production-0123456789",
  database: memoryAdapter(db),
  emailAndPassword: { enabled: true },
  plugins: [jwt(jwtOptions), admin()],
  telemetry: { enabled: false },
});
const authHandler = toNodeHandler(auth);

async function readJSON(req) {
  let body = "";
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 1 << 16) throw new Error("body too large");
  }
  return JSON.parse(body);
}

function send(res, status, value) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(value));
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === "POST" && req.url === "/test/rotate") {
      const context = await auth.$context;
      const key = await createJwk({ context }, jwtOptions);
      return send(res, 200, { kid: key.id });
    }
    if (req.method === "POST" && req.url === "/test/set-role") {
      const { userId, role } = await readJSON(req);
      const user = db.user.find((u) => u.id === userId);
      if (!user) return send(res, 404, { error: "no such user" });
      user.role = role;
      return send(res, 200, { ok: true });
    }
    if (req.method === "POST" && req.url === "/test/jose-verify") {
      const { token, jwksUrl, issuer, audience, typ } = await readJSON(req);
      const jwks = createRemoteJWKSet(new URL(jwksUrl));
      try {
        const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience, typ });
        return send(res, 200, { ok: true, payload, protectedHeader });
      } catch (err) {
        return send(res, 200, { ok: false, code: err.code || "", message: String(err.message) });
      }
    }
    return authHandler(req, res);
  } catch (err) {
    send(res, 500, { error: String(err && err.message) });
  }
});
server.listen(port, "127.0.0.1", () => console.log(`listening ${port}`));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => server.close(() => process.exit(0)));
