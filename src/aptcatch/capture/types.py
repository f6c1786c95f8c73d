"""File types the scanner tells apart, named after what identification found in the content."""

from __future__ import annotations

from enum import StrEnum


class FileType(StrEnum):
    # mail
    EML = "eml"
    MSG = "msg"
    # archives and containers
    ZIP = "zip"
    RAR = "rar"
    SEVENZIP = "7z"
    TAR = "tar"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ISO = "iso"
    CAB = "cab"
    # Office binary (OLE2 / MS-CFB)
    OLE_DOC = "ole-doc"
    OLE_XLS = "ole-xls"
    OLE_PPT = "ole-ppt"
    OLE_VBA_PROJECT = "ole-vba-project"
    OLE_EQUATION = "ole-equation"
    OLE_PACKAGE = "ole-package"
    OLE_ENCRYPTED = "ole-encrypted"
    MSI = "msi"
    OLE_OTHER = "ole"
    # Office Open XML and ODF
    OOXML_WORD = "ooxml-word"
    OOXML_EXCEL = "ooxml-excel"
    OOXML_POWERPOINT = "ooxml-powerpoint"
    OOXML_OTHER = "ooxml"
    ODF = "odf"
    XPS = "xps"
    WORD_XML = "word-xml"
    EXCEL_XML = "excel-xml"
    SLK = "slk"
    MHT = "mht"
    MTEF = "mtef"
    # documents
    RTF = "rtf"
    PDF = "pdf"
    ONENOTE = "onenote"
    CHM = "chm"
    # shortcuts and scripts
    LNK = "lnk"
    URL_SHORTCUT = "url-shortcut"
    IQY = "iqy"
    HTML = "html"
    HTA = "hta"
    JS = "js"
    VBS = "vbs"
    POWERSHELL = "powershell"
    BATCH = "batch"
    WSF = "wsf"
    SCT = "sct"
    # executables
    PE = "pe"
    ELF = "elf"
    # other
    XML = "xml"
    CSV = "csv"
    TEXT = "text"
    IMAGE = "image"
    EMPTY = "empty"
    UNKNOWN = "unknown"


OLE_TYPES = frozenset(
    {
        FileType.OLE_DOC,
        FileType.OLE_XLS,
        FileType.OLE_PPT,
        FileType.OLE_VBA_PROJECT,
        FileType.OLE_EQUATION,
        FileType.OLE_PACKAGE,
        FileType.OLE_ENCRYPTED,
        FileType.OLE_OTHER,
        FileType.MSI,
        FileType.MSG,
    }
)
OOXML_TYPES = frozenset(
    {FileType.OOXML_WORD, FileType.OOXML_EXCEL, FileType.OOXML_POWERPOINT, FileType.OOXML_OTHER}
)
ARCHIVE_TYPES = frozenset(
    {
        FileType.ZIP,
        FileType.RAR,
        FileType.SEVENZIP,
        FileType.TAR,
        FileType.GZIP,
        FileType.BZIP2,
        FileType.XZ,
        FileType.ISO,
        FileType.CAB,
    }
)
SCRIPT_TYPES = frozenset(
    {
        FileType.HTML,
        FileType.HTA,
        FileType.JS,
        FileType.VBS,
        FileType.POWERSHELL,
        FileType.BATCH,
        FileType.WSF,
        FileType.SCT,
    }
)
TEXTUAL_TYPES = frozenset(
    SCRIPT_TYPES
    | {FileType.TEXT, FileType.CSV, FileType.XML, FileType.URL_SHORTCUT, FileType.IQY, FileType.SLK}
)
