/**
 * Reading a pkg-config file (.pc) without the pkg-config program: its
 * variables (`prefix=...`, with `${pcfiledir}` built in) and its fields
 * (`Cflags: ...`, `Libs: ...`), split into arguments. Enough for the SDK's
 * own libusb-1.0.pc, which `libusb-wasm cc` reads so that a machine with
 * nothing but emcc can build libusb programs.
 * @module
 */
import fs from 'node:fs';
import path from 'node:path';

/** A .pc file's fields (Name, Cflags, Libs, ...) with its variables substituted. */
export type PkgConfigFields = Record<string, string>;

/** Read a .pc file. Throws when it is missing or names an undefined variable. */
export function readPkgConfig(file: string): PkgConfigFields {
  const variables: Record<string, string> = { pcfiledir: path.dirname(path.resolve(file)) };
  const fields: PkgConfigFields = {};
  const expand = (text: string) => text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
    if (!(name in variables)) throw new Error(`${file}: undefined variable \${${name}}`);
    return variables[name];
  });
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    const m = /^([A-Za-z0-9_.]+)\s*([=:])\s*(.*)$/.exec(line);
    if (!m) continue;
    if (m[2] === '=') variables[m[1]] = expand(m[3]);
    else fields[m[1]] = expand(m[3]);
  }
  return fields;
}

/** A field's arguments (split at whitespace, as pkg-config prints them for a shell). */
export function pkgConfigArgs(fields: PkgConfigFields, name: string): string[] {
  return (fields[name] ?? '').split(/\s+/).filter(Boolean);
}
