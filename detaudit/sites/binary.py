"""Find every call to ``at::Context::alertNotDeterministic`` in one shared library and decode its string.

LIEF parses the container (ELF or Mach-O: sections, the target's symbol and
relocation); the bulk work (every call instruction of a 300 MB ``.text``, every
symbol of the symbol table) is done with numpy on the mapped file, and
capstone disassembles only the few instructions before each call site to
find the string literal it passes. The ``sites`` extra installs LIEF and
capstone; :func:`require` says when they are missing.
"""

from __future__ import annotations

import functools
import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EnvironmentUnsupported

__all__ = [
    "ALERT_SYMBOL",
    "CUBLAS_MARKERS",
    "Call",
    "LibraryScan",
    "is_shared_library",
    "require",
    "scan_library",
]

#: The mangled names of ``at::Context::alertNotDeterministic`` contain this (every
#: version: by value or ``const&``, ``c10::string_view`` or ``std::string_view``).
ALERT_SYMBOL = "N2at7Context21alertNotDeterministicE"

#: Strings that only the cuBLAS workspace check (``alertCuBLASConfigNotDeterministic``) holds.
CUBLAS_MARKERS = (b"Deterministic behavior was enabled with either",)

_INSTALL_HINT = 'pip install "detaudit[sites]"'

#: How far before a call the string's address is looked for (bytes).
_WINDOW = 160
#: How far back a register holding the string's address is looked for (bytes).
_FAR_WINDOW = 4096

_PRINTABLE = re.compile(rb"[\x20-\x7e]{1,200}")


def require() -> None:
    """Raise :class:`EnvironmentUnsupported` (exit 3) unless LIEF and capstone import."""
    try:
        import capstone  # noqa: F401
        import lief  # noqa: F401
    except ImportError as exc:
        raise EnvironmentUnsupported(
            f"detaudit sites needs LIEF and capstone ({exc.name} is missing): {_INSTALL_HINT}"
        ) from None


@dataclass(frozen=True, slots=True)
class Call:
    """One call to the alert function: where, in which symbol, and the string passed (or None)."""

    address: int
    symbol: str  # mangled; "" when no symbol covers the address
    alert: str | None


@dataclass(frozen=True, slots=True)
class LibraryScan:
    """What one library holds: its alert calls, and which cuBLAS-check strings it contains."""

    arch: str  # "x86_64", "aarch64" or "arm64"
    calls: tuple[Call, ...]
    cublas_markers: tuple[str, ...]


def is_shared_library(path: Path) -> bool:
    """True for an ELF or 64-bit Mach-O file (by its magic number)."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError:
        return False
    return magic in (b"\x7fELF", b"\xcf\xfa\xed\xfe")


@dataclass(slots=True)
class _Section:
    name: str
    vaddr: int
    offset: int
    size: int
    executable: bool


class _Image:
    """The mapped file and its sections, with address -> bytes helpers."""

    def __init__(self, data: mmap.mmap, sections: list[_Section]) -> None:
        self.data = data
        self.sections = sections

    def section_at(self, address: int) -> _Section | None:
        for s in self.sections:
            if s.vaddr <= address < s.vaddr + s.size and s.offset:
                return s
        return None

    def read(self, address: int, size: int) -> bytes:
        s = self.section_at(address)
        if s is None:
            return b""
        start = s.offset + address - s.vaddr
        end = min(start + size, s.offset + s.size)
        return bytes(self.data[start:end])

    def c_string(self, address: int) -> str | None:
        """The printable NUL-terminated string at ``address``, or None."""
        s = self.section_at(address)
        if s is None or s.executable:
            return None
        raw = self.read(address, 256)
        end = raw.find(b"\0")
        if end <= 0:
            return None
        text = raw[:end]
        return text.decode("ascii") if _PRINTABLE.fullmatch(text) else None


# -- call sites: the vectorised scans ---------------------------------------------------------


def _rel32_hits(code: np.ndarray, base: int, opcode: int, targets: set[int], size: int) -> list:
    """Addresses of ``opcode rel32`` (x86-64) whose destination is in ``targets``."""
    hits: list[int] = []
    n = len(code)
    if n < size:
        return hits
    starts = np.flatnonzero(code[: n - size + 1] == opcode)
    if starts.size == 0:
        return hits
    disp_at = starts + (size - 4)
    disp = (
        code[disp_at].astype(np.int64)
        | (code[disp_at + 1].astype(np.int64) << 8)
        | (code[disp_at + 2].astype(np.int64) << 16)
        | (code[disp_at + 3].astype(np.int64) << 24)
    )
    disp = np.where(disp >= 1 << 31, disp - (1 << 32), disp)
    dest = base + starts + size + disp
    for target in targets:
        hits.extend((base + starts[dest == target]).tolist())
    return hits


def _modrm_hits(code: np.ndarray, base: int, modrm: int, slots: set[int]) -> list:
    """Addresses of ``FF /2`` or ``FF /4`` with ``[rip+disp32]`` reading a slot in ``slots``."""
    hits: list[int] = []
    n = len(code)
    if n < 6 or not slots:
        return hits
    starts = np.flatnonzero((code[: n - 5] == 0xFF) & (code[1 : n - 4] == modrm))
    disp_at = starts + 2
    disp = (
        code[disp_at].astype(np.int64)
        | (code[disp_at + 1].astype(np.int64) << 8)
        | (code[disp_at + 2].astype(np.int64) << 16)
        | (code[disp_at + 3].astype(np.int64) << 24)
    )
    disp = np.where(disp >= 1 << 31, disp - (1 << 32), disp)
    dest = base + starts + 6 + disp
    for slot in slots:
        hits.extend((base + starts[dest == slot]).tolist())
    return hits


def _branch26_hits(code: np.ndarray, base: int, targets: set[int]) -> list:
    """Addresses of AArch64 ``bl``/``b`` whose destination is in ``targets``."""
    usable = len(code) - len(code) % 4
    words = code[:usable].view("<u4")
    top = words & 0xFC000000
    index = np.flatnonzero((top == 0x94000000) | (top == 0x14000000))
    imm = (words[index] & 0x03FFFFFF).astype(np.int64)
    imm = np.where(imm >= 1 << 25, imm - (1 << 26), imm)
    pc = base + index.astype(np.int64) * 4
    dest = pc + imm * 4
    hits = []
    for target in targets:
        hits.extend(pc[dest == target].tolist())
    return hits


# -- the container: ELF and Mach-O ------------------------------------------------------------

#: A Mach-O ``nlist_64`` symbol-table entry.
_NLIST = np.dtype(
    [("strx", "<u4"), ("type", "u1"), ("sect", "u1"), ("desc", "<u2"), ("value", "<u8")]
)


class _Library:
    """One parsed library: its sections, the alert function's call targets and its symbols."""

    def __init__(self, path: Path) -> None:
        import lief

        lief.logging.disable()
        binary = lief.parse(str(path))
        if binary is None:
            raise EnvironmentUnsupported(f"{path}: LIEF cannot parse it")
        self.binary = binary
        self._handle = open(path, "rb")  # noqa: SIM115 - closed in close()
        self.data = mmap.mmap(self._handle.fileno(), 0, access=mmap.ACCESS_READ)
        self.macho = isinstance(binary, lief.MachO.Binary)
        if self.macho:
            self.arch = (
                "arm64"
                if binary.header.cpu_type == lief.MachO.Header.CPU_TYPE.ARM64
                else ("x86_64")
            )
            sections = [
                _Section(
                    s.name,
                    s.virtual_address,
                    s.offset,
                    s.size,
                    bool(int(s.flags) & 0x80000400),
                )
                for s in binary.sections
            ]
        else:
            machine = binary.header.machine_type
            self.arch = "aarch64" if machine == lief.ELF.ARCH.AARCH64 else "x86_64"
            sections = [
                _Section(
                    s.name,
                    s.virtual_address,
                    s.offset if s.type != lief.ELF.Section.TYPE.NOBITS else 0,
                    s.size,
                    s.has(lief.ELF.Section.FLAGS.EXECINSTR),
                )
                for s in binary.sections
                if s.virtual_address
            ]
        self.image = _Image(self.data, sections)

    def close(self) -> None:
        self.data.close()
        self._handle.close()

    # The symbol tables, as numpy arrays: (address, size or 0, name offset), sorted by address.
    def _symbol_table(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, bytes | mmap.mmap, int]:
        if self.macho:
            command = self.binary.symbol_command
            table = np.frombuffer(
                self.data, _NLIST, command.numberof_symbols, command.symbol_offset
            )
            keep = ((table["type"] & 0xE0) == 0) & ((table["type"] & 0x0E) == 0x0E)  # N_SECT
            table = table[keep & (table["value"] != 0)]
            order = np.argsort(table["value"], kind="stable")
            table = table[order]
            return (
                table["value"].astype(np.int64),
                np.zeros(len(table), np.int64),
                table["strx"].astype(np.int64),
                self.data,
                command.strings_offset,
            )
        dtype = np.dtype(
            [
                ("name", "<u4"),
                ("info", "u1"),
                ("other", "u1"),
                ("shndx", "<u2"),
                ("value", "<u8"),
                ("size", "<u8"),
            ]
        )
        values, sizes, names = [], [], []
        for table_name, strings_name in ((".symtab", ".strtab"), (".dynsym", ".dynstr")):
            table_section = self.binary.get_section(table_name)
            strings = self.binary.get_section(strings_name)
            if table_section is None or strings is None:
                continue
            table = np.frombuffer(
                self.data, dtype, table_section.size // dtype.itemsize, table_section.offset
            )
            table = table[((table["info"] & 0xF) == 2) & (table["value"] != 0)]  # STT_FUNC
            values.append(table["value"].astype(np.int64))
            sizes.append(table["size"].astype(np.int64))
            names.append(table["name"].astype(np.int64) + strings.offset)
        if not values:
            empty = np.zeros(0, np.int64)
            return empty, empty, empty, self.data, 0
        value, size, name = (np.concatenate(a) for a in (values, sizes, names))
        order = np.argsort(value, kind="stable")
        return value[order], size[order], name[order], self.data, 0

    def _name_at(self, strings: bytes | mmap.mmap, offset: int) -> str:
        end = strings.find(b"\0", offset)
        return bytes(strings[offset:end]).decode("utf-8", "replace")

    def symbols_for(self, addresses: list[int]) -> dict[int, str]:
        """The mangled symbol that covers each address ("" when none does)."""
        if not addresses:
            return {}
        value, size, name, strings, base = self._symbol_table()
        found: dict[int, str] = {}
        starts = self._function_starts() if self.macho else None
        for address in addresses:
            i = int(np.searchsorted(value, address, side="right")) - 1
            if i < 0:
                found[address] = ""
                continue
            start = int(value[i])
            if not self.macho:
                # several names may share an address; the first one whose size covers it
                j = i
                while j >= 0 and int(value[j]) == start and not (address < start + int(size[j])):
                    j -= 1
                if j < 0 or int(value[j]) != start:
                    found[address] = ""
                    continue
                i = j
            elif starts is not None and len(starts):
                k = int(np.searchsorted(starts, address, side="right")) - 1
                if k >= 0 and int(starts[k]) > start:  # a function with no symbol of its own
                    found[address] = ""
                    continue
            found[address] = self._name_at(strings, base + int(name[i]))
        return found

    def _function_starts(self) -> np.ndarray | None:
        if not self.binary.has_function_starts:
            return None
        return np.asarray(sorted(self.binary.function_starts.functions), np.int64) + int(
            self.binary.imagebase
        )

    # Where a call to the alert function lands: the function itself, its PLT stub or GOT slot.
    def targets(self) -> tuple[set[int], set[int]]:
        """(call destinations, GOT slots read by an indirect call) of the alert function."""
        if self.macho:
            return self._macho_targets(), set()
        return self._elf_targets()

    def _elf_targets(self) -> tuple[set[int], set[int]]:
        import lief

        direct: set[int] = set()
        slots: set[int] = set()
        for symbol in self.binary.dynamic_symbols:
            if ALERT_SYMBOL in symbol.name and symbol.value:
                direct.add(int(symbol.value))
        symtab = self.binary.get_section(".symtab")
        if symtab is not None:
            for symbol in self.binary.symtab_symbols:
                if (
                    ALERT_SYMBOL in symbol.name
                    and symbol.value
                    and not symbol.name.endswith(".cold")
                ):
                    direct.add(int(symbol.value))
        for reloc in self.binary.relocations:
            if reloc.has_symbol and ALERT_SYMBOL in reloc.symbol.name:
                slots.add(int(reloc.address))
        if slots:
            direct |= self._plt_stubs(slots, lief)
        return direct, slots

    def _plt_stubs(self, slots: set[int], lief) -> set[int]:
        """The PLT entries that jump through one of ``slots``."""
        stubs: set[int] = set()
        for section in self.image.sections:
            if not section.name.startswith(".plt") or not section.offset:
                continue
            code = np.frombuffer(self.data, np.uint8, section.size, section.offset)
            if self.arch == "x86_64":
                for jump in _modrm_hits(code, section.vaddr, 0x25, slots):
                    # the entry starts at its 16-byte boundary (endbr64 / bnd prefixes before)
                    stubs.add(jump - (jump - section.vaddr) % 16)
            else:
                stubs |= _aarch64_plt_stubs(code, section.vaddr, slots)
        return stubs

    def _macho_targets(self) -> set[int]:
        """The alert function's address if this image defines it, else its ``__stubs`` entries."""
        command = self.binary.symbol_command
        table = np.frombuffer(self.data, _NLIST, command.numberof_symbols, command.symbol_offset)
        strings_at, strings_size = command.strings_offset, command.strings_size
        strings = self.data[strings_at : strings_at + strings_size]
        starts = set()
        at = strings.find(ALERT_SYMBOL.encode())
        while at != -1:
            starts.add(strings.rfind(b"\0", 0, at) + 1)
            at = strings.find(ALERT_SYMBOL.encode(), at + 1)
        matches = np.flatnonzero(np.isin(table["strx"], np.fromiter(starts, np.int64)))
        defined = {
            int(table["value"][i])
            for i in matches.tolist()
            if (table["type"][i] & 0x0E) == 0x0E and table["value"][i]
        }
        if defined:
            return defined
        return self._macho_stubs(set(matches.tolist()))

    def _macho_stubs(self, wanted: set[int]) -> set[int]:
        """The ``__stubs`` entries that call one of the symbols (by symbol-table index)."""
        command = self.binary.dynamic_symbol_command
        indirect = np.frombuffer(
            self.data, "<u4", command.nb_indirect_symbols, command.indirect_symbol_offset
        )
        stubs = set()
        for section in self.binary.sections:
            if section.name != "__stubs" or not section.reserved2:
                continue
            count = section.size // section.reserved2
            for k in range(count):
                if int(indirect[section.reserved1 + k]) in wanted:
                    stubs.add(section.virtual_address + k * section.reserved2)
        return stubs

    def call_sites(self) -> list[int]:
        """Every address that calls (or tail-calls) the alert function."""
        direct, slots = self.targets()
        sites: list[int] = []
        for section in self.image.sections:
            if not section.executable or not section.offset or section.name.startswith(".plt"):
                continue
            if section.name in ("__stubs", "__stub_helper", "__objc_stubs"):
                continue
            code = np.frombuffer(self.data, np.uint8, section.size, section.offset)
            if self.arch == "x86_64":
                sites += _rel32_hits(code, section.vaddr, 0xE8, direct, 5)
                sites += _rel32_hits(code, section.vaddr, 0xE9, direct, 5)
                sites += _modrm_hits(code, section.vaddr, 0x15, slots)
                sites += _modrm_hits(code, section.vaddr, 0x25, slots)
            else:
                sites += _branch26_hits(code, section.vaddr, direct)
        return sorted(set(sites) - direct)


def _aarch64_plt_stubs(code: np.ndarray, base: int, slots: set[int]) -> set[int]:
    """AArch64 PLT entries ``adrp x16, P; ldr x17, [x16, #o]`` that load one of ``slots``."""
    usable = len(code) - len(code) % 4
    words = code[:usable].view("<u4").astype(np.int64)
    stubs = set()
    adrp = np.flatnonzero((words & 0x9F00001F) == 0x90000010)  # adrp x16
    for i in adrp.tolist():
        if i + 1 >= len(words):
            continue
        ldr = int(words[i + 1])
        if (ldr & 0xFFC003FF) != 0xF9400211:  # ldr x17, [x16, #imm]
            continue
        word = int(words[i])
        imm = ((word >> 29) & 3) | (((word >> 5) & 0x7FFFF) << 2)
        if imm >= 1 << 20:
            imm -= 1 << 21
        pc = base + 4 * i
        page = (pc & ~0xFFF) + (imm << 12)
        if page + ((ldr >> 10) & 0xFFF) * 8 in slots:
            stubs.add(pc)
    return stubs


# -- the string passed: a few instructions before the call ------------------------------------


def _disassembler(arch: str):
    import capstone

    if arch == "x86_64":
        md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    else:
        md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)
    md.detail = True
    return md


def _x86_instructions(md, image: _Image, address: int, window: int) -> list:
    """The instructions that end exactly at ``address`` (the longest such run in the window)."""
    code = image.read(address - window, window)
    start = address - len(code)
    for skip in range(len(code)):
        run = []
        at = start + skip
        for insn in md.disasm(code[skip:], at):
            run.append(insn)
            at = insn.address + insn.size
        if at == address and run:
            return run
    return []


def _rip_target(insn) -> int | None:
    """The address a ``lea reg, [rip+X]`` loads, or None for any other instruction."""
    from capstone import x86

    if insn.id != x86.X86_INS_LEA or len(insn.operands) != 2:
        return None
    memory = insn.operands[1]
    if memory.type != x86.X86_OP_MEM or memory.mem.base != x86.X86_REG_RIP:
        return None
    return insn.address + insn.size + memory.mem.disp


def _x86_string(md, image: _Image, address: int) -> str | None:
    """The string whose address is loaded last before the call.

    The ``string_view`` is built on the stack just before the call: its pointer
    comes from a ``lea reg, [rip+X]`` there, or from a register (callee-saved,
    set earlier in the function) stored into the stack slot.
    """
    from capstone import x86

    stored: list[int] = []
    for insn in reversed(_x86_instructions(md, image, address, _WINDOW)):
        if insn.group(x86.X86_GRP_CALL) or insn.group(x86.X86_GRP_RET):
            break
        target = _rip_target(insn)
        if target is not None and (text := image.c_string(target)) is not None:
            return text
        ops = insn.operands
        if (
            insn.id == x86.X86_INS_MOV
            and len(ops) == 2
            and ops[0].type == x86.X86_OP_MEM
            and ops[1].type == x86.X86_OP_REG
        ):
            stored.append(ops[1].reg)
    if not stored:
        return None
    for insn in reversed(_x86_instructions(md, image, address, _FAR_WINDOW)):
        target = _rip_target(insn)
        if target is not None and insn.operands[0].reg in stored:
            text = image.c_string(target)
            if text is not None:
                return text
    return None


def _arm64_string(md, image: _Image, address: int) -> str | None:
    """The string an ``adrp``/``add`` pair builds for the ``bl`` at ``address``.

    The instructions before the call are simulated: ``adrp``, ``adr`` and
    ``add #imm`` give a register a known address, ``mov`` copies it, any other
    write forgets it, and a call forgets the caller-saved registers. The string
    is the one built last since the previous call, or else the one held by a
    register the code stores into the ``string_view`` on the stack.
    """
    from capstone import arm64

    code = image.read(address - _FAR_WINDOW, _FAR_WINDOW)
    registers: dict[int, int] = {}
    built: list[int] = []
    stored: list[int] = []
    calls = (arm64.ARM64_INS_BL, arm64.ARM64_INS_BLR)
    for insn in md.disasm(code, address - len(code)):
        if insn.address >= address:
            break
        ops = insn.operands
        if insn.id in calls:
            registers = {r: v for r, v in registers.items() if r in _arm64_callee_saved()}
            built.clear()
            stored.clear()
            continue
        if insn.id in (arm64.ARM64_INS_STP, arm64.ARM64_INS_STR):
            stored += [op.reg for op in ops if op.type == arm64.ARM64_OP_REG]
            continue
        value = None
        if insn.id in (arm64.ARM64_INS_ADRP, arm64.ARM64_INS_ADR) and len(ops) == 2:
            value = ops[1].imm
        elif (
            insn.id == arm64.ARM64_INS_ADD
            and len(ops) == 3
            and ops[2].type == arm64.ARM64_OP_IMM
            and ops[1].reg in registers
        ):
            value = registers[ops[1].reg] + ops[2].imm
            built.append(value)
        elif insn.id == arm64.ARM64_INS_MOV and len(ops) == 2 and ops[1].type == arm64.ARM64_OP_REG:
            value = registers.get(ops[1].reg)
        if ops and ops[0].type == arm64.ARM64_OP_REG:
            if value is None:
                registers.pop(ops[0].reg, None)
            else:
                registers[ops[0].reg] = value
            if insn.id == arm64.ARM64_INS_ADR and value is not None:
                built.append(value)
    candidates = built[::-1] + [registers[r] for r in reversed(stored) if r in registers]
    for candidate in candidates:
        text = image.c_string(candidate)
        if text is not None:
            return text
    return None


@functools.cache
def _arm64_callee_saved() -> frozenset[int]:
    """x19-x29, which a call leaves as they were (AAPCS64), as capstone's register ids."""
    from capstone import arm64

    return frozenset(getattr(arm64, f"ARM64_REG_X{n}") for n in range(19, 30))


def _calls(library: _Library) -> Iterator[Call]:
    sites = library.call_sites()
    symbols = library.symbols_for(sites)
    md = _disassembler(library.arch)
    decode = _x86_string if library.arch == "x86_64" else _arm64_string
    for address in sites:
        yield Call(address, symbols.get(address, ""), decode(md, library.image, address))


def _cublas_markers(data: mmap.mmap) -> tuple[str, ...]:
    return tuple(m.decode() for m in CUBLAS_MARKERS if data.find(m) != -1)


def scan_library(path: str | Path) -> LibraryScan:
    """Every alert call in the library at ``path``, and its cuBLAS-check strings."""
    require()
    library = _Library(Path(path))
    try:
        return LibraryScan(library.arch, tuple(_calls(library)), _cublas_markers(library.data))
    finally:
        library.close()
