"""Checks of the iOS app that need no Swift compiler, one per defect class a release review found.

Nothing here compiles Swift (no compiler exists on these machines). Each check reads
`ios_demo/project.yml` or the Swift sources (tree-sitter-swift syntax trees or plain text) and
would have caught a defect that Xcode or a phone caught instead: a `SWIFT_VERSION` Xcode
rejects, a usage-description string missing for a framework the code uses, the `[weak self]`
closure whose inner `Task` reads the weak `self` (an error since Swift 5.10), VQACore value
types that are not `Sendable`, and the crash and hang patterns of the camera and microphone.
Each check is tested on a small source it must refuse.
"""

import re
from pathlib import Path

import tree_sitter_swift
import yaml
from tree_sitter import Language, Node, Parser

ROOT = Path(__file__).resolve().parents[1]
IOS = ROOT / "ios_demo"
APP = IOS / "VQADemo"
CORE_SOURCES = IOS / "VQACore" / "Sources" / "VQACore"

XCODE_SWIFT_VERSIONS = {"4.0", "4.2", "5.0", "6.0"}
"""The values Xcode's Swift Language Version accepts; anything else stops the build."""

USAGE_KEYS = {
    "NSCameraUsageDescription": ("AVCaptureDevice", "AVCaptureSession"),
    "NSMicrophoneUsageDescription": ("AVAudioEngine", "requestRecordPermission", "inputNode"),
    "NSSpeechRecognitionUsageDescription": ("SFSpeechRecognizer",),
    "NSPhotoLibraryUsageDescription": ("PHPhotoLibrary", "PHPickerViewController"),
    "NSPhotoLibraryAddUsageDescription": ("UIImageWriteToSavedPhotosAlbum",),
    "NSLocationWhenInUseUsageDescription": ("CLLocationManager",),
}
"""Info.plist key -> the APIs that make iOS kill an app lacking it (privacy-sensitive data)."""

CONCURRENT_CALLS = {"Task", "detached", "async", "asyncAfter", "run"}
"""Calls whose trailing closure runs concurrently with the closure that makes it."""


def _parser() -> Parser:
    return Parser(Language(tree_sitter_swift.language()))


def _text(source: bytes, node: Node) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8")


def _app_sources() -> dict[str, bytes]:
    return {p.relative_to(IOS).as_posix(): p.read_bytes() for p in sorted(APP.rglob("*.swift"))}


def _project() -> dict:
    return yaml.safe_load((IOS / "project.yml").read_text("utf-8"))


def _target_settings() -> dict:
    return _project()["targets"]["VQADemo"]["settings"]["base"]


def _plist() -> dict:
    return _project()["targets"]["VQADemo"]["info"]["properties"]


# --- project.yml -------------------------------------------------------------------------------


def test_swift_version_is_one_xcode_accepts():
    settings = _target_settings()
    version = str(settings["SWIFT_VERSION"])
    assert version in XCODE_SWIFT_VERSIONS, f"SWIFT_VERSION {version!r} is not one Xcode accepts"
    if version != "6.0":  # Swift 6 checks everything; in Swift 5 mode the checks must be asked for
        assert settings.get("SWIFT_STRICT_CONCURRENCY") == "complete"
    package = (IOS / "VQACore" / "Package.swift").read_text("utf-8")
    assert 'enableExperimentalFeature("StrictConcurrency")' in package


def missing_usage_keys(sources: dict[str, bytes], plist: dict) -> list[str]:
    """`KEY (file uses API)` for each usage description the sources need and the plist lacks."""
    missing = []
    for key, apis in USAGE_KEYS.items():
        users = sorted(
            f"{name} uses {api}"
            for name, text in sources.items()
            for api in apis
            if re.search(rf"\b{api}\b", text.decode("utf-8"))
        )
        if users and not str(plist.get(key, "")).strip():
            missing.append(f"{key} ({users[0]})")
    return missing


def test_the_usage_check_finds_a_missing_key():
    source = {"x.swift": b"let engine = AVAudioEngine()\nlet r = SFSpeechRecognizer()\n"}
    assert missing_usage_keys(source, {"NSSpeechRecognitionUsageDescription": "words"}) == [
        "NSMicrophoneUsageDescription (x.swift uses AVAudioEngine)"
    ]
    assert missing_usage_keys(source, {"NSMicrophoneUsageDescription": "a",
                                       "NSSpeechRecognitionUsageDescription": "b"}) == []


def test_every_usage_description_the_app_needs_is_in_the_plist():
    assert not missing_usage_keys(_app_sources(), _plist())


def test_signing_survives_generating_the_project():
    """Team and bundle id come from Signing.xcconfig (+ a git-ignored Local.xcconfig), never
    from project.yml, whose settings would override them on every `xcodegen generate`."""
    project = _project()
    target = project["targets"]["VQADemo"]
    assert set(target["configFiles"].values()) == {"Signing.xcconfig"}
    assert "bundleIdPrefix" not in project.get("options", {})
    for key in ("PRODUCT_BUNDLE_IDENTIFIER", "DEVELOPMENT_TEAM"):
        assert key not in target["settings"]["base"]
    signing = (IOS / "Signing.xcconfig").read_text("utf-8")
    assert re.search(r"^PRODUCT_BUNDLE_IDENTIFIER = \S+", signing, re.M)
    assert signing.rstrip().endswith('#include? "Local.xcconfig"')  # last, so its values win
    assert "Local.xcconfig" in (IOS / ".gitignore").read_text("utf-8").split()
    bundles = [s for s in target["sources"] if isinstance(s, dict) and s["path"] == "Bundles"]
    assert bundles and bundles[0]["type"] == "folder"  # a group would flatten the .mlpackage


# --- Swift 6 concurrency -----------------------------------------------------------------------


def weak_self_read_concurrently(source: bytes) -> list[str]:
    """`line: call` for each closure run concurrently (Task, async, ...) inside a `[weak self]`
    closure that reads `self` without capturing it itself: "reference to captured var 'self' in
    concurrently-executing code"."""
    found = []
    stack = [_parser().parse(source).root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != "lambda_literal" or not _captures_weak_self(source, node):
            continue
        inner = [c for c in _descendants(node) if c.type == "lambda_literal"]
        for closure in inner:
            call = _calling(closure)
            if call not in CONCURRENT_CALLS or _has_capture_list(closure):
                continue
            if re.search(r"\bself\b", _text(source, closure)):
                found.append(f"{closure.start_point.row + 1}: {call}")
    return sorted(set(found))


def _captures_weak_self(source: bytes, closure: Node) -> bool:
    return any(
        c.type == "capture_list" and re.search(r"\bweak\s+self\b", _text(source, c))
        for c in closure.children
    )


def _has_capture_list(closure: Node) -> bool:
    return any(c.type == "capture_list" for c in closure.children)


def _descendants(node: Node) -> list[Node]:
    out, stack = [], list(node.children)
    while stack:
        child = stack.pop()
        out.append(child)
        stack.extend(child.children)
    return out


def _calling(closure: Node) -> str | None:
    """The name of the function a trailing closure is passed to (`Task`, `async`, ...)."""
    suffix = closure.parent
    if suffix is None or suffix.type != "call_suffix" or suffix.parent is None:
        return None
    callee = suffix.parent.children[0]
    if callee.type == "simple_identifier":
        return callee.text.decode()
    if callee.type == "navigation_expression":
        return callee.children[-1].children[-1].text.decode()
    return None


def test_the_weak_self_check_finds_the_pattern():
    bad = b"""func f() {
    task = r.go { [weak self] a, b in
        Task { @MainActor in self?.x = 1 }
    }
}"""
    good = b"""func f() {
    task = r.go { [weak self] a, b in
        guard let owner = self else { return }
        Task { @MainActor in owner.x = 1 }
        Task { @MainActor [weak self] in self?.y() }
    }
}"""
    assert weak_self_read_concurrently(bad) == ["3: Task"]
    assert weak_self_read_concurrently(good) == []


def test_no_weak_self_closure_reads_self_in_concurrent_code():
    problems = [
        f"{name}:{entry}"
        for name, source in _app_sources().items()
        for entry in weak_self_read_concurrently(source)
    ]
    why = "capture self in the Task, not the outer closure's weak var:\n"
    assert not problems, why + "\n".join(problems)


def not_sendable(source: str) -> list[str]:
    """Public structs and enums of a source whose declaration does not conform to Sendable."""
    declarations = re.finditer(
        r"^\s*public\s+(?:indirect\s+)?(?:struct|enum)\s+(\w+)([^{]*)\{", source, re.M
    )
    return [m.group(1) for m in declarations if not re.search(r"\bSendable\b", m.group(2))]


def test_the_sendable_check_finds_a_plain_struct():
    assert not_sendable("public struct A: Equatable {\n}\npublic enum B: Sendable {}\n") == ["A"]


def test_vqacore_public_value_types_are_sendable():
    problems = [
        f"{path.name}: {name}"
        for path in sorted(CORE_SOURCES.glob("*.swift"))
        for name in not_sendable(path.read_text("utf-8"))
    ]
    assert not problems, "public VQACore types without Sendable: " + ", ".join(problems)


# --- crash and hang patterns -------------------------------------------------------------------

FORBIDDEN = {
    "UIDevice.current.orientation": "unknown until orientation notifications start: use "
    "AVCaptureDevice.RotationCoordinator",
    "mach_task_self_": "a global var Swift 6 refuses in nonisolated code: task_self_trap()",
    "applicationSupportDirectory": "compiled models belong in Caches (not backed up)",
    "UIGraphicsImageRenderer": "12 MP redraws: decode small with ImageIO off the main actor",
}


def test_no_source_uses_a_pattern_the_review_removed():
    for name, source in _app_sources().items():
        text = re.sub(r"//.*", "", source.decode("utf-8"))  # code only, not the comments
        for pattern, why in FORBIDDEN.items():
            assert pattern not in text, f"{name} uses {pattern}: {why}"
        # MLMultiArrays are filled through their storage pointer, not one NSNumber a value.
        assert not re.search(r"\w+\[\w+\]\s*=\s*NSNumber\(", text), f"{name}: NSNumber fill"


def _file_with(needle: str) -> str:
    holders = [t.decode("utf-8") for t in _app_sources().values() if needle in t.decode("utf-8")]
    assert len(holders) == 1, f"{needle} expected in one app file"
    return holders[0]


def test_the_camera_guards_capture_photo():
    camera = _file_with("capturePhoto(")
    for guard in ("authorizationStatus(for: .video)", "isRunning", "isInterrupted",
                  "connection.isEnabled", "connection.isActive", "didFinishCaptureFor",
                  "captureTimeout", "maxPhotoDimensions", "isVideoRotationAngleSupported"):
        assert guard in camera, f"the capture path lacks {guard}"


def test_the_microphone_is_asked_for_and_its_format_checked():
    speech = _file_with("installTap(")
    for guard in ("AVAudioApplication.requestRecordPermission()", "format.sampleRate > 0",
                  "format.channelCount > 0", "SFSpeechRecognizer.requestAuthorization",
                  "requiresOnDeviceRecognition = true"):
        assert guard in speech, f"voice input lacks {guard}"
    # endAudio() is followed by a wait for the final result, not by an immediate cancel.
    assert not re.search(r"endAudio\(\)\s*\n\s*task\?\.cancel\(\)", speech)


def test_answers_are_spoken_in_a_playback_session():
    speaker = _file_with("AVSpeechSynthesizer()")
    assert "setCategory(.playback, mode: .spokenAudio" in speaker
    assert "accessibilitySpeechAnnouncementPriority = .high" in speaker
