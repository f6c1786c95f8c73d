"""Windows shortcuts (.lnk, MS-SHLLINK) read with LnkParse3.

What a shortcut runs (target from the link info, environment block, ID list or relative path, plus the
arguments), how it hides it (whitespace padding, hidden window, a document icon on a script host,
obfuscated or base64-encoded commands, data appended after the structure) and the traces it carries
about the machine it was made on (TrackerDataBlock NetBIOS name, droid GUIDs whose version-1 node is a MAC
address, volume serial, the owner SID in the property store). Decoded PowerShell commands and appended
data become child artifacts; nothing is ever resolved or launched.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import warnings
from typing import TYPE_CHECKING, Any

import LnkParse3
from LnkParse3.extra.terminal import Terminal

from aptcatch.capture.context import ArtifactContext, MetaValue
from aptcatch.capture.formats import script_decode as dec
from aptcatch.capture.formats import script_rules as rules
from aptcatch.capture.types import FileType
from aptcatch.model.scan import IndicatorType, JSONScalar

if TYPE_CHECKING:
    from aptcatch.capture.analyzer import Analyzer
    from aptcatch.capture.engine import ScanConfig

# target binary (lower-case file name) -> finding raised when the shortcut hands it arguments
LOLBINS: dict[str, str] = {
    "mshta.exe": "lnk.target_mshta",
    "powershell.exe": "lnk.target_powershell",
    "powershell_ise.exe": "lnk.target_powershell",
    "pwsh.exe": "lnk.target_powershell",
    "cmd.exe": "lnk.target_cmd",
    "wscript.exe": "lnk.target_wscript",
    "cscript.exe": "lnk.target_wscript",
    "rundll32.exe": "lnk.target_rundll32",
    "regsvr32.exe": "lnk.target_regsvr32",
    "msiexec.exe": "lnk.target_msiexec",
    "certutil.exe": "lnk.target_downloader",
    "bitsadmin.exe": "lnk.target_downloader",
    "curl.exe": "lnk.target_downloader",
    "wget.exe": "lnk.target_downloader",
    "ftp.exe": "lnk.target_downloader",
    "finger.exe": "lnk.target_downloader",
    "forfiles.exe": "lnk.target_proxy",
    "conhost.exe": "lnk.target_proxy",
    "explorer.exe": "lnk.target_proxy",
    "pcalua.exe": "lnk.target_proxy",
    "hh.exe": "lnk.target_proxy",
    "scriptrunner.exe": "lnk.target_proxy",
    "wmic.exe": "lnk.target_proxy",
    "cmstp.exe": "lnk.target_proxy",
    "msbuild.exe": "lnk.target_proxy",
    "installutil.exe": "lnk.target_proxy",
    "regasm.exe": "lnk.target_proxy",
    "regsvcs.exe": "lnk.target_proxy",
    "odbcconf.exe": "lnk.target_proxy",
    "syncappvpublishingserver.exe": "lnk.target_proxy",
    "msdt.exe": "lnk.target_proxy",
    "wsl.exe": "lnk.target_proxy",
    "bash.exe": "lnk.target_proxy",
    "control.exe": "lnk.target_proxy",
    "presentationhost.exe": "lnk.target_proxy",
    "schtasks.exe": "lnk.target_proxy",
    "reg.exe": "lnk.target_proxy",
    "runas.exe": "lnk.target_proxy",
}
SCRIPT_EXTENSIONS = (
    ".js",
    ".jse",
    ".vbs",
    ".vbe",
    ".wsf",
    ".wsh",
    ".hta",
    ".bat",
    ".cmd",
    ".ps1",
    ".sct",
    ".scr",
)
OWN_ICONS = frozenset({"cmd.exe", "powershell.exe", "pwsh.exe", "powershell_ise.exe", "conhost.exe"})
DOC_ICON_HINT = re.compile(
    r"(?i)\.(?:pdf|docx?|xlsx?|pptx?|rtf|txt|jpe?g|png|gif|bmp|html?|zip|rar)\b|winword|excel|powerpnt|acro"
    r"|msedge|chrome|firefox|iexplore|wordpad|notepad|shell32\.dll|imageres\.dll|moricons|explorer\.exe"
)
MAX_ARG_DECODED_CHILDREN = 2


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        if value.year <= 1601:
            return None
        return value.replace(microsecond=0).isoformat()
    return None


def _basename(path: str) -> str:
    return re.split(r"[\\/]", path.strip().strip("\"'"))[-1].lower()


def droid_mac(droid: str) -> str | None:
    """MAC address of a version-1 droid GUID (the node field), or None for other UUID versions."""
    try:
        u = uuid.UUID(droid.strip("{}"))
    except ValueError:
        return None
    if u.version != 1:
        return None
    return ":".join(f"{(u.node >> s) & 0xFF:02x}" for s in range(40, -1, -8))


def _id_list_path(items: list[Any]) -> str:
    parts: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        cls = str(item.get("class", ""))
        if cls == "Volume Item" and item.get("volume_name"):
            parts = [str(item["volume_name"]).rstrip("\\")]
        elif cls == "File entry" and item.get("primary_name"):
            parts.append(str(item["primary_name"]))
        elif cls == "Network location" and item.get("location"):
            parts = [str(item["location"])]
    return "\\".join(parts)


class LnkAnalyzer:
    name = "lnk"
    types: frozenset[FileType] | None = frozenset({FileType.LNK})

    def analyze(self, ctx: ArtifactContext) -> None:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                lnk = LnkParse3.lnk_file(indata=ctx.data)
                info = lnk.get_json()
        except Exception as exc:  # malformed structure: keep what strings tell
            ctx.error("parse", f"LnkParse3: {type(exc).__name__}: {exc}"[:300])
            self._fallback_strings(ctx)
            return
        problems = [str(w.message) for w in caught if str(w.message).startswith("Error while parsing")]
        if int(getattr(lnk, "size", 0) or 0) > len(ctx.data) or problems:
            detail = (
                problems[0] if problems else f"structure claims {lnk.size} bytes, file has {len(ctx.data)}"
            )
            ctx.error("parse", f"malformed shortcut (read what was readable): {detail}"[:300])
        header: dict[str, Any] = info.get("header", {})
        data: dict[str, Any] = info.get("data", {})
        link_info: dict[str, Any] = info.get("link_info", {})
        extra: dict[str, Any] = info.get("extra", {})

        targets = self._targets(info, link_info, extra, data)
        target = next((t for t in targets if t), "")
        args = str(data.get("command_line_arguments") or "")
        workdir = str(data.get("working_directory") or "")
        icon = str(data.get("icon_location") or "")
        icon_block = extra.get("ICON_LOCATION_BLOCK") or {}
        icon = icon or str(icon_block.get("target_unicode") or icon_block.get("target_ansi") or "")

        self._metadata(ctx, header, data, link_info, extra, target, args, icon)
        self._assess(ctx, targets, target, args, workdir, icon, str(header.get("windowstyle") or ""))
        self._appended(ctx, lnk)

        for value, what in ((target, "target"), (workdir, "working directory"), (icon, "icon")):
            if value and re.match(r"(?i)^(?:[a-z]:\\|\\\\|%\w+%)", value):
                ctx.indicator(IndicatorType.FILE_PATH, value, f"shortcut {what}")
        for value, what in (
            (args, "arguments"),
            (target, "target"),
            (icon, "icon"),
            (workdir, "working dir"),
        ):
            if value:
                ctx.indicators_from_text(value[:200_000], f"shortcut {what}")

    # -- parts -----------------------------------------------------------------------------------------
    @staticmethod
    def _targets(
        info: dict[str, Any], link_info: dict[str, Any], extra: dict[str, Any], data: dict[str, Any]
    ) -> list[str]:
        out: list[str] = []
        base = str(link_info.get("local_base_path_unicode") or link_info.get("local_base_path") or "")
        suffix = str(link_info.get("common_path_suffix_unicode") or link_info.get("common_path_suffix") or "")
        if base:
            out.append(base + suffix if suffix and not base.endswith(suffix) else base)
        loc = link_info.get("location_info") or {}
        net = str(loc.get("net_name_unicode") or loc.get("net_name") or "")
        if net:
            out.append(net.rstrip("\\") + ("\\" + suffix if suffix else ""))
        env = extra.get("ENVIRONMENTAL_VARIABLES_LOCATION_BLOCK") or {}
        out.append(str(env.get("target_unicode") or env.get("target_ansi") or ""))
        items = (info.get("target") or {}).get("items") or []
        out.append(_id_list_path(items[:64]))
        out.append(str(data.get("relative_path") or ""))
        return [t for t in out if t]

    @staticmethod
    def _metadata(
        ctx: ArtifactContext,
        header: dict[str, Any],
        data: dict[str, Any],
        link_info: dict[str, Any],
        extra: dict[str, Any],
        target: str,
        args: str,
        icon: str,
    ) -> None:
        meta: dict[str, MetaValue] = {
            "lnk_target": target or None,
            "lnk_arguments": args or None,
            "lnk_arguments_length": len(args),
            "lnk_working_dir": data.get("working_directory"),
            "lnk_relative_path": data.get("relative_path"),
            "lnk_description": data.get("description"),
            "lnk_icon_location": icon or None,
            "lnk_icon_index": header.get("icon_index"),
            "lnk_show_command": header.get("windowstyle"),
            "lnk_hotkey": header.get("hotkey") if header.get("r_hotkey") else None,
            "lnk_target_created": _iso(header.get("creation_time")),
            "lnk_target_accessed": _iso(header.get("accessed_time")),
            "lnk_target_modified": _iso(header.get("modified_time")),
            "lnk_target_size": header.get("file_size"),
            "lnk_flags": list[JSONScalar](str(f) for f in header.get("link_flags") or []),
        }
        loc = link_info.get("location_info") or {}
        meta["lnk_volume_serial"] = loc.get("drive_serial_number")
        meta["lnk_drive_type"] = loc.get("drive_type")
        meta["lnk_volume_label"] = loc.get("volume_label_unicode") or loc.get("volume_label") or None
        meta["lnk_net_name"] = loc.get("net_name_unicode") or loc.get("net_name") or None
        meta["lnk_device_name"] = loc.get("device_name_unicode") or loc.get("device_name") or None
        env = extra.get("ENVIRONMENTAL_VARIABLES_LOCATION_BLOCK") or {}
        meta["lnk_env_target"] = env.get("target_unicode") or env.get("target_ansi") or None
        meta["lnk_known_folder_id"] = (extra.get("KNOWN_FOLDER_LOCATION_BLOCK") or {}).get("known_folder_id")
        meta["lnk_special_folder_id"] = (extra.get("SPECIAL_FOLDER_LOCATION_BLOCK") or {}).get(
            "special_folder_id"
        )
        tracker = extra.get("DISTRIBUTED_LINK_TRACKER_BLOCK") or {}
        if tracker:
            meta["lnk_machine_id"] = tracker.get("machine_identifier") or None
            for key in (
                "droid_volume_identifier",
                "droid_file_identifier",
                "birth_droid_volume_identifier",
                "birth_droid_file_identifier",
            ):
                meta[f"lnk_{key.replace('_identifier', '')}"] = tracker.get(key)
            macs = sorted(
                {
                    m
                    for k in ("droid_file_identifier", "birth_droid_file_identifier")
                    if (m := droid_mac(str(tracker.get(k) or "")))
                }
            )
            mac_value: MetaValue = macs[0] if len(macs) == 1 else (list[JSONScalar](macs) or None)
            meta["lnk_mac_address"] = mac_value
        sids = _property_sids(extra.get("METADATA_PROPERTIES_BLOCK") or {})
        if sids:
            sid_value: MetaValue = sids[0] if len(sids) == 1 else list[JSONScalar](sids)
            meta["lnk_owner_sid"] = sid_value
        for key, value in meta.items():
            if value is not None and value != "" and value != []:
                ctx.meta(key, value)

    def _assess(
        self,
        ctx: ArtifactContext,
        targets: list[str],
        target: str,
        args: str,
        workdir: str,
        icon: str,
        windowstyle: str,
    ) -> None:
        names = [_basename(t) for t in targets]
        lolbin = next((n for n in names if n in LOLBINS), "")
        script = next((n for n in names if n.endswith(SCRIPT_EXTENSIONS)), "")
        stripped = args.strip()
        if lolbin:
            if stripped:
                ctx.finding(LOLBINS[lolbin], f"{target} {_short(stripped)}")
            else:
                ctx.finding("lnk.target_system_binary", target)
        if script:
            ctx.finding("lnk.target_script_file", target)
        for value, what in ((target, "target"), (workdir, "working directory")):
            if re.match(r"\\\\[^\\]+\\", value) or re.search(r"(?i)@ssl\\|davwwwroot|^https?://", value):
                ctx.finding("lnk.remote_target", f"{what} {value}")

        active = bool(lolbin or script)
        decoded = self._decode_args(ctx, args)
        body = "\n".join([args, *decoded])
        m = rules.URL_OR_UNC.search(body)
        if m:
            ctx.finding("lnk.args_url", m.group(0)[:300])
        m = rules.CRADLE.search(body)
        if m and active:
            ctx.finding("lnk.args_download_cradle", _short(_around(body, m)))
        if len(args) > 0 and (
            re.search(r"[ \t\r\n\x00]{40,}", args)
            or args.count("\n") >= 8
            or (len(args) > 255 and len(args) - len(args.lstrip()) > 32)
        ):
            ctx.finding(
                "lnk.args_padding",
                f"{len(args)} characters of arguments, "
                f"{sum(1 for c in args if c.isspace())} of them whitespace",
            )
        m = rules.CMD_OBFUSCATION.search(args)
        if m and active:
            ctx.finding("lnk.args_obfuscated", m.group(0)[:200])
        hidden = rules.HIDDEN_ARG.search(args)
        if active and (hidden or "MIN" in windowstyle.upper() or "HIDE" in windowstyle.upper()):
            ctx.finding("lnk.hidden_window", hidden.group(0).strip() if hidden else windowstyle)
        if active and icon:
            own = _basename(icon.split(",")[0])
            if own not in OWN_ICONS and own not in names and DOC_ICON_HINT.search(icon):
                ctx.finding("lnk.icon_masquerade", f"icon {icon} on {lolbin or script}")

    def _decode_args(self, ctx: ArtifactContext, args: str) -> list[str]:
        """PowerShell -EncodedCommand and base64 text in the arguments, decoded (children too)."""
        out = dec.powershell_encoded_commands(args)
        if out:
            ctx.finding("lnk.args_encoded_command", "decoded: " + _short(out[0]))
            for i, cmd in enumerate(out[:MAX_ARG_DECODED_CHILDREN]):
                ctx.child(f"encoded command {i + 1} (decoded)", cmd.encode("utf-8"), FileType.POWERSHELL)
        for head, raw in dec.base64_blobs(args):
            text = dec.decode_utf16_command(raw[: 256 * 1024])
            if text and text not in out:
                ctx.finding("lnk.args_encoded_command", f"base64 {head}... decodes to: {_short(text)}")
                out.append(text)
        for text in out:
            ctx.indicators_from_text(text[:200_000], "decoded shortcut arguments")
        return out

    @staticmethod
    def _appended(ctx: ArtifactContext, lnk: Any) -> None:
        extras = getattr(getattr(lnk, "extras", None), "data", None) or []
        for block in extras:
            if isinstance(block, Terminal):
                tail = block.appended_data()
                if len(tail) >= 16 and len(tail) - tail.count(0) > 8:
                    ctx.meta("lnk_appended_bytes", len(tail))
                    ctx.finding("lnk.appended_data", f"{len(tail)} bytes after the terminal block")
                    ctx.child("appended data", tail)
                return

    @staticmethod
    def _fallback_strings(ctx: ArtifactContext) -> None:
        """Indicators from the UTF-16 strings of a shortcut LnkParse3 could not read."""
        text = "\n".join(
            m.group(0).decode("utf-16-le", errors="replace")
            for m in re.finditer(rb"(?:[\x20-\x7e]\x00){6,}", ctx.data[: 4 * 1024 * 1024])
        )
        if text:
            ctx.indicators_from_text(text[:200_000], "shortcut strings")


def _property_sids(block: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for store in (block.get("property_store") or [])[:64]:
        for value in (store.get("serialized_property_values") or [])[:64]:
            v = value.get("value") if isinstance(value, dict) else None
            if isinstance(v, str) and re.fullmatch(r"S-1-5-21(?:-\d+){3,4}", v) and v not in found:
                found.append(v)
    return found


def _short(text: str, width: int = 240) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _around(text: str, m: re.Match[str]) -> str:
    return text[max(0, m.start() - 60) : m.end() + 120]


def analyzers(config: ScanConfig) -> list[Analyzer]:
    return [LnkAnalyzer()]
