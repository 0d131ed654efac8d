// Prints password-hash vectors made by the real Node packages as JSON, for
// ../gen.py. Run by hand only: cd testdata/legacy/node && npm ci && node gen.mjs
import { readFileSync } from "node:fs";
import { hashPassword, verifyPassword } from "better-auth/crypto";
import argon2 from "argon2";
import bcrypt from "bcryptjs";

const version = (name) =>
  JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, import.meta.url))).version;

const ascii = "correct horse battery staple";
const unicode = "pässwörd 🔑";
const compat = "ｆｕｌｌｗｉｄｔｈ ﬁ ²"; // not NFKC-stable: Better Auth hashes "fullwidth fi 2"
const long = "a".repeat(64) + "-tail-past-byte-72-is-ignored";

const vectors = [];
for (const [password, nfkc] of [[ascii, false], [unicode, false], [compat, true]]) {
  const hash = await hashPassword(password);
  if (!(await verifyPassword({ hash, password }))) throw new Error("better-auth does not verify its own hash");
  vectors.push({ source: `better-auth ${version("better-auth")} hashPassword`, legacy: "BetterAuthScrypt", nfkc, password, hash, valid: true });
}
for (const password of [ascii, unicode]) {
  vectors.push({ source: `argon2 (node-argon2) ${version("argon2")} hash, defaults`, legacy: "", password, hash: await argon2.hash(password), valid: true });
}
vectors.push({
  source: `argon2 (node-argon2) ${version("argon2")} hash with associatedData: refused (PHC data parameter)`,
  legacy: "", password: ascii, valid: false,
  hash: await argon2.hash(ascii, { associatedData: Buffer.from("context") }),
});
const truncated = bcrypt.hashSync(long, 10);
if (!bcrypt.compareSync(long.slice(0, 72), truncated)) throw new Error("bcryptjs no longer truncates at 72 bytes");
vectors.push({ source: `bcryptjs ${version("bcryptjs")} hashSync(cost 10), over 72 bytes`, legacy: "", truncation: true, password: long, hash: truncated, valid: true });

process.stdout.write(JSON.stringify({
  versions: { node: process.version, "better-auth": version("better-auth"), argon2: version("argon2"), bcryptjs: version("bcryptjs") },
  vectors,
}));
