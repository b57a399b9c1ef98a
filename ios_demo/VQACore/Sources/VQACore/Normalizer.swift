import Foundation

/// A darts-clone double array, as SentencePiece stores the precompiled charsmap's trie: 32-bit
/// little-endian units; common-prefix search gives the (value, length) of every key that is a
/// prefix of the input.
struct DoubleArray: Sendable {
    let units: [UInt32]

    private static func hasLeaf(_ unit: UInt32) -> Bool { return (unit >> 8) & 1 == 1 }
    private static func value(_ unit: UInt32) -> Int { return Int(unit & 0x7FFF_FFFF) }
    private static func label(_ unit: UInt32) -> UInt32 { return unit & 0x8000_00FF }
    private static func offset(_ unit: UInt32) -> Int {
        return Int((unit >> 10) << ((unit & (1 << 9)) >> 6))
    }

    func commonPrefixSearch(_ key: [UInt8], from start: Int, maxResults: Int)
        -> [(value: Int, length: Int)]
    {
        var results: [(value: Int, length: Int)] = []
        guard !units.isEmpty else { return results }
        var node = DoubleArray.offset(units[0])
        var i = start
        while i < key.count {
            node ^= Int(key[i])
            guard node < units.count else { return results }
            let unit = units[node]
            if DoubleArray.label(unit) != UInt32(key[i]) { return results }
            node ^= DoubleArray.offset(unit)
            if DoubleArray.hasLeaf(unit) {
                guard node < units.count else { return results }
                if results.count < maxResults {
                    results.append((value: DoubleArray.value(units[node]), length: i - start + 1))
                }
            }
            i += 1
        }
        return results
    }
}

/// SentencePiece's normalizer (normalizer.cc): longest-match rewriting with the precompiled
/// charsmap (nmt_nfkc for BEiT-3), user-defined symbols kept as they are, leading, trailing and
/// repeated whitespace removed, spaces escaped as U+2581 and a dummy prefix added.
struct Normalizer: Sendable {
    static let maxTrieResults = 32
    static let spaceSymbol: [UInt8] = [0xE2, 0x96, 0x81]

    let trie: DoubleArray?
    let normalizedStrings: [UInt8]
    let userDefined: [[UInt8]]
    let addDummyPrefix: Bool
    let removeExtraWhitespaces: Bool
    let escapeWhitespaces: Bool
    let treatWhitespaceAsSuffix: Bool

    init(model: SentencePieceModel) throws {
        let blob = model.precompiledCharsmap
        if blob.isEmpty {
            trie = nil
            normalizedStrings = []
        } else {
            guard blob.count > 4 else {
                throw TokenizerError.malformedModel("precompiled charsmap is too short")
            }
            let trieSize = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8
                | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
            guard trieSize < blob.count - 4, trieSize % 4 == 0 else {
                throw TokenizerError.malformedModel("precompiled charsmap trie size \(trieSize)")
            }
            var units: [UInt32] = []
            units.reserveCapacity(trieSize / 4)
            var i = 4
            while i < 4 + trieSize {
                units.append(UInt32(blob[i]) | UInt32(blob[i + 1]) << 8
                    | UInt32(blob[i + 2]) << 16 | UInt32(blob[i + 3]) << 24)
                i += 4
            }
            trie = DoubleArray(units: units)
            normalizedStrings = Array(blob[(4 + trieSize)...])
        }
        var symbols: [[UInt8]] = []
        for (index, type) in model.types.enumerated() where type == .userDefined {
            symbols.append(model.pieces[index])
        }
        userDefined = symbols
        addDummyPrefix = model.addDummyPrefix
        removeExtraWhitespaces = model.removeExtraWhitespaces
        escapeWhitespaces = model.escapeWhitespaces
        treatWhitespaceAsSuffix = model.treatWhitespaceAsSuffix
    }

    /// The normalized form of the prefix of `input` at `start`, and how many bytes it consumed.
    func normalizePrefix(_ input: [UInt8], at start: Int) -> (piece: [UInt8], consumed: Int) {
        var longestUserDefined = 0
        for symbol in userDefined where symbol.count > longestUserDefined {
            if start + symbol.count <= input.count
                && input[start..<(start + symbol.count)].elementsEqual(symbol)
            {
                longestUserDefined = symbol.count
            }
        }
        if longestUserDefined > 0 {
            return (Array(input[start..<(start + longestUserDefined)]), longestUserDefined)
        }
        var longestLength = 0
        var longestValue = 0
        if let trie = trie {
            let matches = trie.commonPrefixSearch(input, from: start,
                                                  maxResults: Normalizer.maxTrieResults)
            for match in matches where longestLength == 0 || match.length > longestLength {
                longestLength = match.length
                longestValue = match.value
            }
        }
        if longestLength == 0 {
            let length = min(utf8CharLength(input[start]), input.count - start)
            return (Array(input[start..<(start + length)]), length)
        }
        guard longestValue < normalizedStrings.count else { return ([], longestLength) }
        var end = longestValue
        while end < normalizedStrings.count && normalizedStrings[end] != 0 { end += 1 }
        return (Array(normalizedStrings[longestValue..<end]), longestLength)
    }

    /// The normalized UTF-8 bytes of `text`, as SentencePiece's Normalizer::Normalize.
    func normalize(_ text: String) -> [UInt8] {
        let input = Array(text.utf8)
        var position = 0
        if input.isEmpty { return [] }
        if removeExtraWhitespaces {
            while position < input.count {
                let prefix = normalizePrefix(input, at: position)
                if prefix.piece != [0x20] { break }
                position += prefix.consumed
            }
        }
        if position >= input.count { return [] }
        let space: [UInt8] = escapeWhitespaces ? Normalizer.spaceSymbol : [0x20]
        var output: [UInt8] = []
        output.reserveCapacity(input.count * 3)
        if !treatWhitespaceAsSuffix && addDummyPrefix { output += space }
        var isPreviousSpace = removeExtraWhitespaces
        while position < input.count {
            let prefix = normalizePrefix(input, at: position)
            var piece = prefix.piece[...]
            while isPreviousSpace, piece.first == 0x20 {
                piece = piece.dropFirst()
            }
            if !piece.isEmpty {
                for byte in piece {
                    if escapeWhitespaces && byte == 0x20 {
                        output += Normalizer.spaceSymbol
                    } else {
                        output.append(byte)
                    }
                }
                isPreviousSpace = piece.last == 0x20
            }
            position += prefix.consumed
            if !removeExtraWhitespaces { isPreviousSpace = false }
        }
        if removeExtraWhitespaces {
            while output.count >= space.count && output.suffix(space.count).elementsEqual(space) {
                output.removeLast(space.count)
            }
        }
        if treatWhitespaceAsSuffix && addDummyPrefix { output += space }
        return output
    }
}
