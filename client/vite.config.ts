import { defineConfig } from 'vitest/config'

// The server serves `dist/`: `index.html` uncached, `assets/*` (content-hashed) for a year,
// from the `.br`/`.gz` twins that `scripts/compress.mjs` writes after the build.
export default defineConfig({
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    emptyOutDir: true,
    // One script on purpose (the editor is the first view of most visits); its size is
    // measured in BENCHMARKS.md, so Vite's 500 kB warning is moved above it.
    chunkSizeWarningLimit: 600,
  },
  server: {
    // `npm run dev`: the API and the WebSocket from a server on :8080.
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/ws': { target: 'ws://127.0.0.1:8080', ws: true },
    },
  },
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    environment: 'node',
  },
})
