import type { Command } from 'commander';

/** Every command path ("", "blob", "blob put") with the words that may follow it: its subcommands and options. */
export function completionTable(program: Command): Map<string, string[]> {
  const table = new Map<string, string[]>();
  const walk = (cmd: Command, path: string) => {
    const subs = cmd.commands.map((c) => c.name());
    const opts = cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => x !== undefined));
    table.set(path, [...subs, ...opts, '--help']);
    for (const c of cmd.commands) walk(c, path ? `${path} ${c.name()}` : c.name());
  };
  walk(program, '');
  return table;
}

/**
 * A bash completion script for the CLI (zsh loads it through bashcompinit): completes commands, subcommands and each
 * command's options from the same definitions `--help` prints, so it never drifts from the CLI.
 */
export function bashCompletion(program: Command, name = 'magnet-node'): string {
  const cases = [...completionTable(program)].map(([path, words]) => `    '${path}') words='${words.join(' ')}' ;;`).join('\n');
  return `# ${name} completion for bash (and zsh: autoload -U +X bashcompinit && bashcompinit)
# Install: ${name} completion > ~/.local/share/bash-completion/completions/${name}   (or: source <(${name} completion))
_magnet_node_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path='' next i words
  # The deepest known command path among the words before the cursor.
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) continue ;; esac
    if [ -z "$path" ]; then next="\${COMP_WORDS[i]}"; else next="$path \${COMP_WORDS[i]}"; fi
    case "$next" in
${[...completionTable(program).keys()]
  .filter((p) => p)
  .map((p) => `      '${p}') path="$next" ;;`)
  .join('\n')}
    esac
  done
  case "$path" in
${cases}
    *) words='' ;;
  esac
  case "$cur" in
    -*) COMPREPLY=($(compgen -W "$(printf '%s\\n' $words | grep '^-')" -- "$cur")) ;;
    *) COMPREPLY=($(compgen -W "$words" -- "$cur")) ;;
  esac
  [ \${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))
  return 0
}
complete -o filenames -F _magnet_node_complete ${name}
`;
}
