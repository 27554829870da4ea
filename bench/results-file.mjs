// Writing a results file that `make bench` regenerates: everything above
// its notes marker is replaced, the hand-written notes from the marker on
// are kept (a file without them gets an empty Notes section).
import fs from 'node:fs';

/** Write `generated` to `file`, keeping what follows `marker` in the file as it was. */
export function writeKeepingNotes(file, generated, marker) {
  let notes = `${marker}\n## Notes\n`;
  if (fs.existsSync(file)) {
    const old = fs.readFileSync(file, 'utf8');
    const i = old.indexOf(marker);
    if (i >= 0) notes = old.slice(i);
  }
  fs.writeFileSync(file, `${generated}\n${notes.trimEnd()}\n`);
}
