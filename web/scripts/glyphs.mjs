// Glyph PBFs for the map's Latin text (cell codes, digits, English names),
// made at build time with fontnik (maintained by Mapbox; its npm package
// ships prebuilt binaries) from Noto Sans (OFL) as packaged by
// @expo-google-fonts/noto-sans. CJK text is drawn by the browser from local
// fonts (MapLibre's localIdeographFontFamily), so no CJK ranges are shipped;
// a range not shipped is answered 404 and MapLibre draws it locally.
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const fontnik = require('fontnik');
const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(web, 'dist', 'glyphs');

const fonts = [
  { stack: 'Noto Sans Regular', file: '@expo-google-fonts/noto-sans/400Regular/NotoSans_400Regular.ttf' },
  { stack: 'Noto Sans Bold', file: '@expo-google-fonts/noto-sans/700Bold/NotoSans_700Bold.ttf' },
];
// Basic Latin and Latin-1, Latin Extended-A, general punctuation, letterlike symbols.
const ranges = [0, 256, 8192, 8448];

const range = (font, start) => new Promise((resolve, reject) =>
  fontnik.range({ font, start, end: start + 255 }, (err, pbf) => (err ? reject(err) : resolve(pbf))));

let bytes = 0;
for (const f of fonts) {
  const font = readFileSync(require.resolve(f.file));
  mkdirSync(join(out, f.stack), { recursive: true });
  for (const start of ranges) {
    const pbf = await range(font, start);
    writeFileSync(join(out, f.stack, `${start}-${start + 255}.pbf`), pbf);
    bytes += pbf.length;
  }
}
console.log(`glyphs: ${fonts.length} fonts × ${ranges.length} ranges, ${(bytes / 1024).toFixed(0)} KiB`);
