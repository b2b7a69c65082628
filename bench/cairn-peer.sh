#!/usr/bin/env bash
# cairn-peer.sh — cairn's wrapper for /work/shared/bench/peers-run.sh (CAIRN_CMD=bench/cairn-peer.sh).
#   init REPO          start a cairn server on loopback (config + datastore under REPO, pid file,
#                      waits until it answers), create a token, store the client env in REPO/env
#   backup REPO STEP   back up ./host as host.cxar and ./disk.img as disk.img (metadata change
#                      detection, --chunk-size 1024 --zstd-level 2 unless overridden, see below)
#   restore REPO DEST  restore the latest snapshot into DEST/host and DEST/disk.img
#   done REPO          stop the server
# Runs inside the folder holding host/ and disk.img. Needs a built tree (pnpm build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
server=(node "$root/apps/server/dist/cli.js")
client=(node "$root/apps/client/dist/bundle/cairn.js")
# Fewer glibc malloc arenas: the worker threads otherwise each keep their own arena of freed
# 4 MiB chunk buffers, which shows up as resident memory.
export MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=1048576
cmd=${1:?usage: cairn-peer.sh init|backup|restore|done REPO [ARG]}
repo=${2:?usage: cairn-peer.sh $cmd REPO}
case $cmd in
init)
  rm -rf "$repo"; mkdir -p "$repo"
  cfg=$repo/config
  # Chunk folders are made on first use: the 65536 empty folders PBS pre-creates would add
  # 256 MiB of directory blocks to `du -sb` without holding any data.
  "${server[@]}" datastore create bench "$repo/datastore" --lazy-chunk-folders --config "$cfg" >/dev/null
  "${server[@]}" user create bench@pbs --config "$cfg" >/dev/null
  secret=$("${server[@]}" token create 'bench@pbs!peer' --config "$cfg" --output-format json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).value))')
  for id in bench@pbs 'bench@pbs!peer'; do "${server[@]}" acl set /datastore/bench DatastoreAdmin "$id" --config "$cfg" >/dev/null; done
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  nohup "${server[@]}" start --config "$cfg" --listen "127.0.0.1:$port" --log-file "$repo/server.log" --log-level warn >"$repo/server.out" 2>&1 &
  echo $! >"$repo/server.pid"
  for _ in $(seq 1 100); do
    if fp=$("${server[@]}" cert fingerprint --config "$cfg" 2>/dev/null) && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  fp=$("${server[@]}" cert fingerprint --config "$cfg")
  cat >"$repo/env" <<ENV
export CAIRN_REPOSITORY='bench@pbs!peer@127.0.0.1:$port:bench'
export CAIRN_PASSWORD='$secret'
export CAIRN_FINGERPRINT='$fp'
ENV
  ;;
backup)
  # shellcheck disable=SC1091
  source "$repo/env"
  # The run in docs/BENCHMARKS.md uses 1 MiB chunks and zstd level 2 (restic's chunks average
  # 1 MiB and its default zstd level is higher): without them cairn stores about 9% more than
  # restic after the mutate step. CAIRN_CHUNK_SIZE (KiB) and CAIRN_ZSTD_LEVEL override them;
  # CAIRN_CHUNK_SIZE=4096 CAIRN_ZSTD_LEVEL=1 gives the CLI's (PBS's) defaults.
  "${client[@]}" backup host.cxar:host disk.img:disk.img --backup-id bench --change-detection-mode metadata \
    --chunk-size "${CAIRN_CHUNK_SIZE:-1024}" --zstd-level "${CAIRN_ZSTD_LEVEL:-2}"
  ;;
restore)
  dest=${3:?usage: cairn-peer.sh restore REPO DEST}
  # shellcheck disable=SC1091
  source "$repo/env"
  # The two archives restore side by side: the tree is bound by file creation on one core, the
  # image by chunk transfer and decoding; both read the same (latest) snapshot.
  snap=$("${client[@]}" snapshots host/bench --output-format json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const l=JSON.parse(s).filter(x=>x.finished);const t=l.map(x=>x["backup-time"]).sort((a,b)=>b-a)[0];console.log(`host/bench/${t}`)})')
  "${client[@]}" restore "$snap" host.cxar "$dest/host" & tree=$!
  "${client[@]}" restore "$snap" disk.img "$dest/disk.img" & image=$!
  status=0
  wait "$tree" || status=$?
  wait "$image" || status=$?
  exit "$status"
  ;;
done)
  if [[ -f $repo/server.pid ]]; then
    pid=$(cat "$repo/server.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$repo/server.pid"
  fi
  ;;
*) echo "cairn-peer.sh: unknown command $cmd" >&2; exit 2 ;;
esac
