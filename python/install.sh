#!/usr/bin/env bash
# Installs the trainer (editable) and its dependencies into <repo>/.venv.
# Idempotent: when the stamp matches the hash of pyproject.toml and the imports work, it returns at once.
# Env: MAGNET_VENV (venv path), PYTHON (interpreter used to create the venv), PIP_INDEX_URL etc. as pip reads them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${MAGNET_VENV:-$(dirname "$here")/.venv}"
stamp="$venv/.magnet-trainer.stamp"
want="$(sha256sum "$here/pyproject.toml" | cut -d' ' -f1)"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
  && "$venv/bin/python" -c "import importlib.util as u, sys
sys.exit(0 if all(u.find_spec(m) for m in ('magnet_trainer', 'torch', 'numpy', 'safetensors', 'gguf', 'pytest', 'tokenizers', 'sentencepiece', 'matplotlib')) else 1)" 2>/dev/null; then
  exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
  py="${PYTHON:-python3}"
  echo "install.sh: creating $venv with $("$py" -V)" >&2
  "$py" -m venv "$venv"
fi

start=$(date +%s)
# pip leaves already-satisfied requirements alone, so an existing venv with torch is accepted as is.
"$venv/bin/python" -m pip install --disable-pip-version-check -q -e "$here[test]"
"$venv/bin/python" -c "import magnet_trainer, torch; print('install.sh: torch', torch.__version__, 'cuda', torch.cuda.is_available())" >&2
echo "$want" > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
echo "install.sh: done in $(( $(date +%s) - start ))s" >&2
