"""A file's language from its name: a small table of extensions and well-known file names.

Good enough for a per-language breakdown of developer activity; it does not look inside files
(no shebangs, no content heuristics, no ``.gitattributes linguist-language`` overrides).
"""

from __future__ import annotations

_BY_NAME = {
    "Makefile": "Makefile",
    "GNUmakefile": "Makefile",
    "makefile": "Makefile",
    "Dockerfile": "Dockerfile",
    "CMakeLists.txt": "CMake",
    "Rakefile": "Ruby",
    "Gemfile": "Ruby",
    "Jenkinsfile": "Groovy",
    "BUILD": "Starlark",
    "WORKSPACE": "Starlark",
}

_BY_EXT = {
    "py": "Python", "pyi": "Python", "pyx": "Cython",
    "c": "C", "h": "C",
    "cc": "C++", "cpp": "C++", "cxx": "C++", "hh": "C++", "hpp": "C++", "hxx": "C++",
    "cs": "C#", "fs": "F#",
    "go": "Go", "rs": "Rust", "java": "Java", "kt": "Kotlin", "kts": "Kotlin",
    "scala": "Scala", "groovy": "Groovy", "gradle": "Groovy", "clj": "Clojure",
    "js": "JavaScript", "mjs": "JavaScript", "cjs": "JavaScript", "jsx": "JavaScript",
    "ts": "TypeScript", "tsx": "TypeScript", "vue": "Vue", "svelte": "Svelte",
    "rb": "Ruby", "php": "PHP", "pl": "Perl", "pm": "Perl", "lua": "Lua", "r": "R",
    "swift": "Swift", "m": "Objective-C", "mm": "Objective-C++", "dart": "Dart",
    "ex": "Elixir", "exs": "Elixir", "erl": "Erlang", "hs": "Haskell", "ml": "OCaml",
    "jl": "Julia", "zig": "Zig", "nim": "Nim", "d": "D", "f90": "Fortran", "f": "Fortran",
    "sh": "Shell", "bash": "Shell", "zsh": "Shell", "fish": "Shell", "ps1": "PowerShell",
    "bat": "Batchfile", "cmd": "Batchfile",
    "sql": "SQL", "html": "HTML", "htm": "HTML", "css": "CSS", "scss": "SCSS", "less": "Less",
    "md": "Markdown", "markdown": "Markdown", "rst": "reStructuredText", "txt": "Text",
    "tex": "TeX", "adoc": "AsciiDoc", "org": "Org",
    "json": "JSON", "yaml": "YAML", "yml": "YAML", "toml": "TOML", "xml": "XML",
    "ini": "INI", "cfg": "INI", "csv": "CSV", "proto": "Protocol Buffer",
    "cmake": "CMake", "mk": "Makefile", "dockerfile": "Dockerfile", "tf": "HCL", "hcl": "HCL",
    "asm": "Assembly", "s": "Assembly", "cu": "CUDA", "glsl": "GLSL", "vim": "Vim Script",
    "el": "Emacs Lisp", "lisp": "Common Lisp", "scm": "Scheme", "rkt": "Racket",
    "po": "Gettext", "ipynb": "Jupyter Notebook",
}  # fmt: skip

OTHER = "Other"


def language_of(path: str) -> str:
    """The language name for ``path``, or ``"Other"``."""
    base = path.rpartition("/")[2]  # git paths use "/" on every platform
    if base in _BY_NAME:
        return _BY_NAME[base]
    _, dot, ext = base.rpartition(".")
    if not dot or not _:
        return OTHER
    return _BY_EXT.get(ext.lower(), OTHER)
