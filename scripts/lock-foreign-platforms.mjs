// The registry reachable here does not serve some foreign-platform optional binaries (e.g.
// @swc/core-darwin-arm64), so `npm install` leaves them out of package-lock.json and `npm ci`
// then refuses the lock. This adds the entries npm would have written: optional, with the os/cpu
// that make npm skip them on every other platform. Run after `npm install` changes the lock.
import fs from 'node:fs';

const lock = JSON.parse(fs.readFileSync('package-lock.json', 'utf8'));
const OS = { darwin: 'darwin', linux: 'linux', win32: 'win32', freebsd: 'freebsd', android: 'android' };
const CPU = { arm64: 'arm64', x64: 'x64', ia32: 'ia32', arm: 'arm', ppc64: 'ppc64', s390x: 's390x', riscv64: 'riscv64' };
let added = 0;
for (const [path, pkg] of Object.entries(lock.packages)) {
  for (const [dep, range] of Object.entries(pkg.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    if (lock.packages[key] || lock.packages[`${path}/${key}`]) continue;
    const parts = dep.split('/').pop().split('-');
    const os = parts.map((p) => OS[p]).find(Boolean);
    const cpu = parts.map((p) => (p === 'arm' && parts.includes('gnueabihf') ? 'arm' : CPU[p])).find(Boolean);
    if (!os || !cpu) continue;
    lock.packages[key] = { version: range, cpu: [cpu], license: pkg.license, optional: true, os: [os], ...(pkg.engines ? { engines: pkg.engines } : {}) };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
fs.writeFileSync('package-lock.json', `${JSON.stringify(lock, null, 2)}\n`);
console.log(`lock-foreign-platforms: added ${added} optional platform entries`);
