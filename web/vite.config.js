import { defineConfig } from 'vite';

// The bundle is embedded in the Go binary and served at /, offline: no CDN,
// hashed file names under assets/ (served as immutable), glyphs under
// glyphs/ copied from public/.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
    reportCompressedSize: true,
  },
  server: {
    proxy: {
      '^/(v1|tiles|glyphs|config.json|healthz|readyz)': 'http://127.0.0.1:8080',
    },
  },
});
