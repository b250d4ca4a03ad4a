// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Heritage Ledger provenance registry
/// @notice Records which communities claim which digitized items, under which consent terms,
///         with custody and derivative history. A claim is (community, content): any number
///         of communities may claim the same bytes, none can block or act on another's claim. Every action is
///         authorised by EIP-712 signatures of a community's keyholders (k of n); anyone may
///         relay a correctly signed action and pay its gas. There is no owner and no admin.
/// @dev Storage holds one digest per record; the record's fields travel in calldata and in
///      events, and callers that need them on chain pass them back to be checked against the
///      stored digest. Keys are bytes32 digests, never strings.
///      Keys: content = keccak256(cid); a claim on it by a community (a single item or a
///      derivative) = keccak256(abi.encode(community, content)); a batch =
///      keccak256(abi.encode(community, root)). Every registration event carries the content
///      (single items, derivatives) or the root (batches) as an indexed topic, so all claims on
///      a CID are found from logs, never from an on-chain list.
///      Metadata, terms and community documents are canonical JSON stored on IPFS as single
///      raw blocks, so each is named by its sha2-256 digest alone: its CID is CIDv1(raw,
///      sha2-256(document)), and the one bytes32 serves as both CID and content digest.
///      A community's keyholders (strictly increasing addresses) and threshold k travel in
///      calldata and are checked against the stored keccak256(abi.encode(keyholders, k)).
contract ProvenanceRegistry {
    // ---------------------------------------------------------------- types

    /// @notice What a stored record digest commits to.
    /// @param community     the community that registered it
    /// @param metadata      sha2-256 of the metadata document (items), or the item count (batches)
    /// @param terms         sha2-256 of the terms document registered with it (version 1)
    /// @param commitment    salted commitment to an encrypted item's plaintext CID, or zero
    ///                      (items); sha2-256 of the batch manifest document (batches; its CID
    ///                      is CIDv1(raw, digest)); the derivation (derivatives)
    /// @param parent        the parent claim key of a derivative, or zero
    /// @param registrant    the account that relayed the registration
    /// @param registeredAt  block timestamp of the registration
    /// @param kind          1 item, 2 batch, 3 derivative
    struct Record {
        bytes32 community;
        bytes32 metadata;
        bytes32 terms;
        bytes32 commitment;
        bytes32 parent;
        address registrant;
        uint64 registeredAt;
        uint8 kind;
    }

    /// @notice One community's side of a custody action.
    struct Party {
        address[] keyholders;
        uint8 threshold;
        bytes signatures;
    }

    /// @notice Current terms of a subject after a change; version 0 means "as registered".
    struct TermsState {
        bytes32 terms;
        uint32 version;
        bool revoked;
        uint64 updatedAt;
    }

    uint8 internal constant KIND_ITEM = 1;
    uint8 internal constant KIND_BATCH = 2;
    uint8 internal constant KIND_DERIVATIVE = 3;

    uint8 public constant CUSTODY_TRANSFER = 1;
    uint8 public constant CUSTODY_LOAN = 2;
    uint8 public constant CUSTODY_RETURN = 3;
    uint8 public constant CUSTODY_REPATRIATION = 4;

    uint256 public constant MAX_KEYHOLDERS = 32;
    /// @dev secp256k1n / 2: signatures with a larger s are the malleated twin of a valid one.
    uint256 internal constant HALF_ORDER =
        0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    // ---------------------------------------------------------------- EIP-712

    bytes32 internal constant DOMAIN_TYPEHASH = keccak256(
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    );
    bytes32 internal constant NAME_HASH = keccak256("Heritage Ledger ProvenanceRegistry");
    bytes32 internal constant VERSION_HASH = keccak256("1");

    bytes32 public constant CREATE_COMMUNITY_TYPEHASH = keccak256(
        "CreateCommunity(bytes32 community,address[] keyholders,uint8 threshold,bytes32 document,uint64 deadline)"
    );
    bytes32 public constant ROTATE_KEYHOLDERS_TYPEHASH = keccak256(
        "RotateKeyholders(bytes32 community,address[] keyholders,uint8 threshold,bytes32 document,uint64 nonce,uint64 deadline)"
    );
    bytes32 public constant REGISTER_ITEM_TYPEHASH = keccak256(
        "RegisterItem(bytes32 community,bytes cid,bytes32 metadata,bytes32 terms,bytes32 commitment,uint64 deadline)"
    );
    bytes32 public constant REGISTER_BATCH_TYPEHASH = keccak256(
        "RegisterBatch(bytes32 community,bytes32 root,uint32 count,bytes32 terms,bytes32 manifest,uint64 deadline)"
    );
    bytes32 public constant REGISTER_DERIVATIVE_TYPEHASH = keccak256(
        "RegisterDerivative(bytes32 community,bytes32 parent,bytes cid,bytes32 metadata,bytes32 terms,bytes32 method,bool aiEnhanced,uint64 deadline)"
    );
    bytes32 public constant SET_TERMS_TYPEHASH = keccak256(
        "SetTerms(bytes32 community,bytes32 subject,uint32 version,bytes32 terms,uint64 deadline)"
    );
    bytes32 public constant REVOKE_TERMS_TYPEHASH = keccak256(
        "RevokeTerms(bytes32 community,bytes32 subject,uint32 version,uint64 deadline)"
    );
    /// @notice Consent of the parent claim's steward to a derivative of it (k of its n).
    bytes32 public constant CONSENT_DERIVATIVE_TYPEHASH = keccak256(
        "ConsentDerivative(bytes32 parent,bytes32 community,bytes cid,bytes32 method,bool aiEnhanced,uint64 deadline)"
    );
    bytes32 public constant RECORD_CUSTODY_TYPEHASH = keccak256(
        "RecordCustody(bytes32 item,uint8 action,bytes32 community,bytes32 counterparty,bytes32 document,uint64 nonce,uint64 deadline)"
    );
    bytes32 public constant SET_DESCRIPTION_TYPEHASH = keccak256(
        "SetDescription(bytes32 community,bytes32 subject,uint32 version,bytes32 description,uint64 deadline)"
    );

    // ---------------------------------------------------------------- storage

    /// @notice keccak256(abi.encode(keyholders, threshold)) of each community.
    mapping(bytes32 community => bytes32 configHash) public communityConfig;
    /// @notice Nonce consumed by each keyholder rotation of a community.
    mapping(bytes32 community => uint64 nonce) public communityNonce;
    /// @notice keccak256(abi.encode(Record)) of each claim (item or derivative) and batch.
    mapping(bytes32 key => bytes32 recordHash) public records;
    /// @notice Terms changes after registration (per item, per batch, or per item of a batch).
    mapping(bytes32 subject => TermsState) internal _terms;
    /// @notice The steward community after a transfer or repatriation (zero: the registrant).
    mapping(bytes32 item => bytes32 community) public stewardOverride;
    /// @notice Nonce consumed by each custody action on an item.
    mapping(bytes32 item => uint64 nonce) public custodyNonce;
    /// @notice The current description version of an item or derivative after a correction
    ///         (zero: the one its metadata document holds, version 1).
    mapping(bytes32 subject => uint32 version) internal _descriptionVersion;

    // ---------------------------------------------------------------- events

    event CommunityCreated(
        bytes32 indexed community, bytes32 indexed salt, address[] keyholders, uint8 threshold, bytes32 document
    );
    event KeyholdersRotated(
        bytes32 indexed community, uint64 nonce, address[] keyholders, uint8 threshold, bytes32 document
    );
    /// @dev The registration time is the block's timestamp; it is part of the stored record.
    event ItemRegistered(
        bytes32 indexed item,
        bytes32 indexed community,
        bytes32 indexed content,
        bytes cid,
        bytes32 metadata,
        bytes32 terms,
        bytes32 commitment,
        address registrant
    );
    /// @dev `manifest` is sha2-256 of the batch manifest (the Merkle tree dump and each item's
    ///      CID, name and metadata CID), so batch membership can be rebuilt from the chain.
    event BatchRegistered(
        bytes32 indexed batch,
        bytes32 indexed community,
        bytes32 indexed root,
        uint32 count,
        bytes32 terms,
        bytes32 manifest,
        address registrant
    );
    /// @dev `community` is the deriving community; its claim is `item`. The parent claim's
    ///      steward consented (`parentSteward`, k of its keyholders at the time).
    event DerivativeRegistered(
        bytes32 indexed item,
        bytes32 indexed parent,
        bytes32 indexed content,
        bytes32 community,
        bytes32 parentSteward,
        bytes cid,
        bytes32 metadata,
        bytes32 terms,
        bytes32 method,
        bool aiEnhanced,
        address registrant
    );
    event TermsSet(bytes32 indexed subject, bytes32 indexed community, uint32 version, bytes32 terms);
    event TermsRevoked(bytes32 indexed subject, bytes32 indexed community, uint32 version);
    /// @dev `description` is sha2-256 of the description document (its CID is
    ///      CIDv1(raw, digest)); `steward` is the community whose keyholders signed.
    event DescriptionSet(bytes32 indexed subject, bytes32 indexed steward, uint32 version, bytes32 description);
    event CustodyRecorded(
        bytes32 indexed item,
        uint8 indexed action,
        bytes32 indexed community,
        bytes32 counterparty,
        bytes32 document,
        uint64 nonce
    );

    // ---------------------------------------------------------------- errors

    error CommunityExists(bytes32 community);
    error UnknownCommunity(bytes32 community);
    error KeyholdersMismatch(bytes32 community);
    error InvalidThreshold(uint256 threshold, uint256 keyholders);
    error KeyholdersNotIncreasing(uint256 index, address keyholder);
    error InvalidSignatureLength(uint256 length);
    error SignatureHighS(uint256 index);
    error SignatureBadV(uint256 index, uint8 v);
    error SignatureInvalid(uint256 index);
    error SignerNotKeyholder(uint256 index, address signer);
    error NotEnoughSignatures(uint256 given, uint256 required);
    error DeadlineExpired(uint64 deadline, uint256 timestamp);
    error EmptyCid();
    error AlreadyRegistered(bytes32 key);
    error UnknownRecord(bytes32 key);
    error RecordMismatch(bytes32 key);
    error WrongVersion(bytes32 subject, uint32 expected, uint32 given);
    error AlreadyRevoked(bytes32 subject, uint32 version);
    error WrongNonce(uint64 expected, uint64 given);
    error UnknownCustodyAction(uint8 action);
    error InvalidProof(bytes32 root, bytes32 leaf);
    error EmptyBatch();
    error MalformedPackedCall(uint256 length);

    // ---------------------------------------------------------------- EIP-712 domain

    /// @notice The EIP-712 domain separator for the live chain id and this contract.
    /// @dev The domain separator as deployed, and the chain id and address it was made for.
    uint256 internal immutable _deployChainId;
    address internal immutable _deployAddress;
    bytes32 internal immutable _deploySeparator;

    constructor() {
        _deployChainId = block.chainid;
        _deployAddress = address(this);
        _deploySeparator = _buildDomainSeparator();
    }

    /// @notice The EIP-712 domain separator for the live chain id and this contract.
    /// @dev Follows block.chainid and address(this) on every call: the one made at deployment
    ///      is reused only while both are unchanged (it saves ~150 gas per signed action), so a
    ///      fork of the chain under a new id can never be replayed signatures made for this one.
    function domainSeparator() public view returns (bytes32) {
        if (block.chainid == _deployChainId && address(this) == _deployAddress) return _deploySeparator;
        return _buildDomainSeparator();
    }

    function _buildDomainSeparator() internal view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    // ---------------------------------------------------------------- communities

    /// @notice Create a community; every initial keyholder signs.
    /// @dev The id is derived from the salt and the initial keyholder set, never chosen: no
    ///      one can take a community's id (or the name its salt comes from) before it is
    ///      created, because an id made with other keyholders is another id. Two communities
    ///      may share a salt; names are resolved by salt and an ambiguous one is reported.
    /// @param salt        caller-chosen (the CLI uses keccak256 of a domain tag and the name)
    /// @param keyholders  keyholder addresses in strictly increasing order
    /// @param threshold   signatures needed for the community's actions (1 <= k <= n)
    /// @param document    sha2-256 of the community document (names, encryption keys)
    /// @param deadline    last timestamp at which the signatures are valid
    /// @param signatures  packed 65-byte r‖s‖v signatures of all keyholders, in their order,
    ///                    over CreateCommunity with the derived id
    /// @return community  the new community's id, `communityIdOf(salt, keyholders, threshold)`
    function createCommunity(
        bytes32 salt,
        address[] calldata keyholders,
        uint8 threshold,
        bytes32 document,
        uint64 deadline,
        bytes calldata signatures
    ) external returns (bytes32 community) {
        _checkDeadline(deadline);
        _checkKeyholderSet(keyholders, threshold);
        bytes32 keyholdersHash = keccak256(abi.encodePacked(keyholders));
        community = keccak256(abi.encode(salt, keyholdersHash, threshold));
        if (communityConfig[community] != bytes32(0)) revert CommunityExists(community);
        bytes32 structHash = keccak256(
            abi.encode(CREATE_COMMUNITY_TYPEHASH, community, keyholdersHash, threshold, document, deadline)
        );
        // Everyone consents to joining: n signatures, not k.
        _checkSignatures(_digest(structHash), keyholders, keyholders.length, signatures);
        communityConfig[community] = _configHash(keyholders, threshold);
        emit CommunityCreated(community, salt, keyholders, threshold, document);
    }

    /// @notice The id `createCommunity` gives a community: keccak256(abi.encode(salt,
    ///         keccak256(abi.encodePacked(keyholders)), threshold)).
    function communityIdOf(bytes32 salt, address[] calldata keyholders, uint8 threshold)
        external
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(salt, keccak256(abi.encodePacked(keyholders)), threshold));
    }

    /// @notice Replace a community's keyholders and/or threshold; k of the current set sign.
    /// @param current       the current keyholders (checked against storage)
    /// @param threshold     the current threshold
    /// @param next          the new keyholders, strictly increasing
    /// @param nextThreshold the new threshold
    /// @param document      sha2-256 of the new community document
    /// @param nonce         the community's current rotation nonce (replay protection)
    function rotateKeyholders(
        bytes32 community,
        address[] calldata current,
        uint8 threshold,
        address[] calldata next,
        uint8 nextThreshold,
        bytes32 document,
        uint64 nonce,
        uint64 deadline,
        bytes calldata signatures
    ) external {
        _checkDeadline(deadline);
        _checkCommunity(community, current, threshold);
        _checkKeyholderSet(next, nextThreshold);
        uint64 expected = communityNonce[community];
        if (nonce != expected) revert WrongNonce(expected, nonce);
        bytes32 structHash = keccak256(
            abi.encode(
                ROTATE_KEYHOLDERS_TYPEHASH,
                community,
                keccak256(abi.encodePacked(next)),
                nextThreshold,
                document,
                nonce,
                deadline
            )
        );
        _checkSignatures(_digest(structHash), current, threshold, signatures);
        communityNonce[community] = expected + 1;
        communityConfig[community] = _configHash(next, nextThreshold);
        emit KeyholdersRotated(community, nonce, next, nextThreshold, document);
    }

    // ---------------------------------------------------------------- registration

    /// @notice Register one item under its community with its initial terms (version 1).
    /// @dev The same action as `registerItemPacked`, ABI-encoded for tools that speak ABI.
    /// @param cid         the item's binary CID; keccak256(cid) is the content key
    /// @param metadata    sha2-256 of the item's metadata document
    /// @param terms       sha2-256 of the terms document
    /// @param commitment  salted commitment to the plaintext CID of an encrypted item, or zero
    /// @return item       the claim key, `claimOf(community, cid)`
    function registerItem(
        bytes32 community,
        address[] calldata keyholders,
        uint8 threshold,
        bytes calldata cid,
        bytes32 metadata,
        bytes32 terms,
        bytes32 commitment,
        uint64 deadline,
        bytes calldata signatures
    ) external returns (bytes32 item) {
        _checkDeadline(deadline);
        bytes32 content;
        (item, content) = _newClaim(community, cid);
        _checkCommunity(community, keyholders, threshold);
        _registerItem(community, _addressesAt(keyholders), 32, keyholders.length, threshold, cid, item, content, metadata, terms, commitment, deadline, signatures);
    }

    /// @notice Register one item: the action of `registerItem`, its arguments packed tightly
    ///         after the selector instead of ABI-encoded, which leaves out the ABI's padding,
    ///         offsets and lengths: 369 bytes of calldata instead of 708 for a 2-of-3
    ///         community, about 1,700 gas less per registration (measured on anvil 1.7.1).
    /// @dev Calldata after the 4-byte selector, big-endian, nothing between the fields:
    ///        community (32) ‖ threshold k (1) ‖ keyholder count n (1) ‖ n keyholders (20 each)
    ///        ‖ metadata (32) ‖ terms (32) ‖ commitment (32) ‖ deadline (8) ‖ CID length (1)
    ///        ‖ CID ‖ signatures (65 bytes each: all the bytes that remain).
    ///      Calldata too short for its declared counts reverts with MalformedPackedCall; extra
    ///      bytes are taken as signatures, so they must be whole valid keyholder signatures.
    /// @return item the claim key, `claimOf(community, cid)`
    function registerItemPacked() external returns (bytes32 item) {
        bytes32 community;
        uint256 threshold;
        uint256 n;
        bytes32 metadata;
        bytes32 terms;
        bytes32 commitment;
        uint64 deadline;
        bytes calldata cid;
        bytes calldata signatures;
        uint256 cidEnd;
        assembly ("memory-safe") {
            // Reads past the end of calldata give zeros; the length check below refuses any
            // call whose declared counts reach past its end, before a field is used.
            community := calldataload(4)
            let counts := calldataload(36)
            threshold := byte(0, counts)
            n := byte(1, counts)
            let pos := add(38, mul(20, n)) // first byte after the keyholders
            metadata := calldataload(pos)
            terms := calldataload(add(pos, 32))
            commitment := calldataload(add(pos, 64))
            let tail := calldataload(add(pos, 96))
            deadline := shr(192, tail)
            cid.offset := add(pos, 105)
            cid.length := byte(8, tail)
            cidEnd := add(cid.offset, cid.length)
            signatures.offset := cidEnd
            signatures.length := sub(calldatasize(), cidEnd) // wraps when too short: checked next
        }
        if (msg.data.length < cidEnd) revert MalformedPackedCall(msg.data.length);

        _checkDeadline(deadline);
        bytes32 content;
        (item, content) = _newClaim(community, cid);
        bytes32 stored = communityConfig[community];
        if (stored == bytes32(0)) revert UnknownCommunity(community);
        if (_packedConfigHash(38, n, threshold) != stored) revert KeyholdersMismatch(community);
        _registerItem(community, 38, 20, n, threshold, cid, item, content, metadata, terms, commitment, deadline, signatures);
    }

    /// @notice Register many items at once under one terms document, by their Merkle root.
    /// @dev Leaves are OpenZeppelin StandardMerkleTree leaves of
    ///      (bytes32 content, bytes32 metadata, bytes32 commitment); duplicates are refused off
    ///      chain before sending. The batch key `batchOf(community, root)` is the record's key
    ///      and its replay protection: another community's batch of the same root is its own.
    ///      `manifest` (sha2-256 of the batch manifest document) is stored in the record's
    ///      `commitment` field.
    /// @return batch the batch key
    function registerBatch(
        bytes32 community,
        address[] calldata keyholders,
        uint8 threshold,
        bytes32 root,
        uint32 count,
        bytes32 terms,
        bytes32 manifest,
        uint64 deadline,
        bytes calldata signatures
    ) external returns (bytes32 batch) {
        _checkDeadline(deadline);
        if (count == 0) revert EmptyBatch();
        batch = batchOf(community, root);
        if (records[batch] != bytes32(0)) revert AlreadyRegistered(batch);
        _checkCommunity(community, keyholders, threshold);
        bytes32 structHash = keccak256(abi.encode(REGISTER_BATCH_TYPEHASH, community, root, count, terms, manifest, deadline));
        _checkSignatures(_digest(structHash), keyholders, threshold, signatures);
        records[batch] = _recordHash(
            community,
            bytes32(uint256(count)),
            terms,
            manifest,
            bytes32(0),
            msg.sender,
            uint64(block.timestamp),
            KIND_BATCH
        );
        emit BatchRegistered(batch, community, root, count, terms, manifest, msg.sender);
    }

    /// @notice Register a derivative (a restoration, 3D reconstruction or AI-enhanced version)
    ///         of a registered claim, with the method document and an AI flag. Two consents:
    ///         k of the deriving community's keyholders sign RegisterDerivative, and k of the
    ///         parent claim's current steward sign ConsentDerivative (when the two are one
    ///         community, its keyholders sign both).
    /// @param parent        the parent claim key (a single item or a derivative)
    /// @param method        sha2-256 of the document describing how the derivative was made
    /// @param parentRecord  the parent's registration record, checked against its stored digest
    /// @param parentSteward the parent steward's keyholders, threshold and ConsentDerivative
    ///                      signatures
    /// @return item         the derivative's claim key, `claimOf(community, cid)`
    function registerDerivative(
        bytes32 community,
        address[] calldata keyholders,
        uint8 threshold,
        bytes32 parent,
        bytes calldata cid,
        bytes32 metadata,
        bytes32 terms,
        bytes32 method,
        bool aiEnhanced,
        uint64 deadline,
        bytes calldata signatures,
        Record calldata parentRecord,
        Party calldata parentSteward
    ) external returns (bytes32 item) {
        _checkDeadline(deadline);
        bytes32 content;
        (item, content) = _newClaim(community, cid);
        _checkCommunity(community, keyholders, threshold);
        _checkSignatures(
            _digest(
                keccak256(
                    abi.encode(
                        REGISTER_DERIVATIVE_TYPEHASH,
                        community,
                        parent,
                        content,
                        metadata,
                        terms,
                        method,
                        aiEnhanced,
                        deadline
                    )
                )
            ),
            keyholders,
            threshold,
            signatures
        );
        bytes32 holder = _checkDerivativeConsent(parent, parentRecord, community, content, method, aiEnhanced, deadline, parentSteward);
        // The derivation (method, AI flag) is bound into the record in place of a commitment.
        records[item] = _recordHash(
            community,
            metadata,
            terms,
            keccak256(abi.encode(method, aiEnhanced)),
            parent,
            msg.sender,
            uint64(block.timestamp),
            KIND_DERIVATIVE
        );
        emit DerivativeRegistered(
            item, parent, content, community, holder, cid, metadata, terms, method, aiEnhanced, msg.sender
        );
    }

    /// @dev Checks k of the parent claim's current steward over ConsentDerivative; returns the
    ///      steward. A batch is not a parent: its items are claimed by their leaves, not records.
    function _checkDerivativeConsent(
        bytes32 parent,
        Record calldata parentRecord,
        bytes32 community,
        bytes32 content,
        bytes32 method,
        bool aiEnhanced,
        uint64 deadline,
        Party calldata steward
    ) internal view returns (bytes32 holder) {
        holder = _stewardOf(parent, parentRecord);
        if (parentRecord.kind == KIND_BATCH) revert UnknownRecord(parent);
        _checkCommunity(holder, steward.keyholders, steward.threshold);
        bytes32 structHash = keccak256(
            abi.encode(CONSENT_DERIVATIVE_TYPEHASH, parent, community, content, method, aiEnhanced, deadline)
        );
        _checkSignatures(_digest(structHash), steward.keyholders, steward.threshold, steward.signatures);
    }

    // ---------------------------------------------------------------- terms

    /// @notice Set the next version of a subject's terms (an item, a derivative or a batch).
    /// @param record   the subject's registration record, checked against its stored digest
    /// @param version  the next version number (current + 1; registration is version 1)
    /// @param terms    sha2-256 of the new terms document
    function setTerms(
        bytes32 subject,
        Record calldata record,
        address[] calldata keyholders,
        uint8 threshold,
        uint32 version,
        bytes32 terms,
        uint64 deadline,
        bytes calldata signatures
    ) external {
        _checkDeadline(deadline);
        bytes32 steward = _stewardOf(subject, record);
        _checkCommunity(steward, keyholders, threshold);
        TermsState storage state = _terms[subject];
        uint32 expected = _currentVersion(state) + 1;
        if (version != expected) revert WrongVersion(subject, expected, version);
        bytes32 structHash = keccak256(abi.encode(SET_TERMS_TYPEHASH, steward, subject, version, terms, deadline));
        _checkSignatures(_digest(structHash), keyholders, threshold, signatures);
        state.terms = terms;
        state.version = version;
        state.revoked = false;
        state.updatedAt = uint64(block.timestamp);
        emit TermsSet(subject, steward, version, terms);
    }

    /// @notice Revoke the current terms of a subject: nothing may be shown under them again.
    /// @param version the current version (replay protection together with the revoked flag)
    function revokeTerms(
        bytes32 subject,
        Record calldata record,
        address[] calldata keyholders,
        uint8 threshold,
        uint32 version,
        uint64 deadline,
        bytes calldata signatures
    ) external {
        _revoke(subject, _stewardOf(subject, record), keyholders, threshold, version, deadline, signatures);
    }

    /// @notice Revoke the terms of one item inside a registered batch, proven by its leaf.
    /// @dev The terms subject is batchItemSubject(batch, item), the batch key binding the
    ///      community: a revocation touches only this community's claim.
    /// @param root        the batch's Merkle root; its key is batchOf(batchRecord.community, root)
    /// @param batchRecord the batch's record, checked against its stored digest
    /// @param item        the content key in the leaf
    /// @param metadata    the leaf's metadata digest
    /// @param commitment  the leaf's plaintext commitment
    /// @param proof       the leaf's Merkle proof against `root`
    /// @param version     the current version of batchItemSubject(batch, item) (1 until revoked)
    function revokeBatchItem(
        bytes32 root,
        Record calldata batchRecord,
        bytes32 item,
        bytes32 metadata,
        bytes32 commitment,
        bytes32[] calldata proof,
        address[] calldata keyholders,
        uint8 threshold,
        uint32 version,
        uint64 deadline,
        bytes calldata signatures
    ) external {
        bytes32 batch = batchOf(batchRecord.community, root);
        bytes32 steward = _stewardOf(batch, batchRecord);
        bytes32 leaf = batchLeaf(item, metadata, commitment);
        if (!_verifyProof(proof, root, leaf)) revert InvalidProof(root, leaf);
        _revoke(batchItemSubject(batch, item), steward, keyholders, threshold, version, deadline, signatures);
    }

    /// @notice The terms subject of one item (by content key) inside a batch (by batch key):
    ///         what termsOf, TermsRevoked and the RevokeTerms signature name when that item
    ///         alone is revoked.
    function batchItemSubject(bytes32 batch, bytes32 item) public pure returns (bytes32) {
        return keccak256(abi.encode(batch, item));
    }

    /// @notice The claim key of `community`'s claim on the content `cid` (single items and
    ///         derivatives): keccak256(abi.encode(community, keccak256(cid))).
    function claimOf(bytes32 community, bytes calldata cid) external pure returns (bytes32) {
        return keccak256(abi.encode(community, keccak256(cid)));
    }

    /// @notice The key of `community`'s batch with Merkle root `root`.
    function batchOf(bytes32 community, bytes32 root) public pure returns (bytes32) {
        return keccak256(abi.encode(community, root));
    }

    /// @notice Terms of a subject. Version 1 with a zero digest means "as registered".
    function termsOf(bytes32 subject)
        external
        view
        returns (uint32 version, bytes32 terms, bool revoked, uint64 updatedAt)
    {
        TermsState storage state = _terms[subject];
        return (_currentVersion(state), state.terms, state.revoked, state.updatedAt);
    }

    // ---------------------------------------------------------------- descriptions

    /// @notice Publish a corrected description of an item or derivative (k of its steward's n).
    /// @dev Version 1 is the description inside the registration's metadata document, which the
    ///      registration's signatures cover; each correction is the current version + 1, which
    ///      is also what keeps a signed correction from being replayed. A batch has no
    ///      description of its own (each of its items' metadata holds one): an item of a batch
    ///      is corrected by its leaf (setBatchItemDescription).
    /// @param record      the subject's registration record, checked against its stored digest
    /// @param version     the next version number (current + 1)
    /// @param description sha2-256 of the new description document
    function setDescription(
        bytes32 subject,
        Record calldata record,
        address[] calldata keyholders,
        uint8 threshold,
        uint32 version,
        bytes32 description,
        uint64 deadline,
        bytes calldata signatures
    ) external {
        _checkDeadline(deadline);
        bytes32 steward = _stewardOf(subject, record);
        if (record.kind == KIND_BATCH) revert UnknownRecord(subject);
        _setDescription(subject, steward, keyholders, threshold, version, description, deadline, signatures);
    }

    /// @notice Publish a corrected description of one item of a registered batch, proven by its
    ///         leaf (k of the batch steward's n).
    /// @dev The subject is batchItemSubject(batch, item), as for revokeBatchItem; the signed
    ///      SetDescription names that subject. Version 1 is the description in the leaf's
    ///      metadata document, which RegisterBatch's signatures cover through the root.
    /// @param root        the batch's Merkle root; its key is batchOf(batchRecord.community, root)
    /// @param batchRecord the batch's record, checked against its stored digest
    /// @param leaf        the leaf: (content key, metadata digest, plaintext commitment)
    /// @param proof       the leaf's Merkle proof against `root`
    function setBatchItemDescription(
        bytes32 root,
        Record calldata batchRecord,
        bytes32[3] calldata leaf,
        bytes32[] calldata proof,
        address[] calldata keyholders,
        uint8 threshold,
        uint32 version,
        bytes32 description,
        uint64 deadline,
        bytes calldata signatures
    ) external {
        _checkDeadline(deadline);
        bytes32 batch = batchOf(batchRecord.community, root);
        bytes32 steward = _stewardOf(batch, batchRecord);
        bytes32 hashed = batchLeaf(leaf[0], leaf[1], leaf[2]);
        if (!_verifyProof(proof, root, hashed)) revert InvalidProof(root, hashed);
        _setDescription(
            batchItemSubject(batch, leaf[0]), steward, keyholders, threshold, version, description, deadline,
            signatures
        );
    }

    function _setDescription(
        bytes32 subject,
        bytes32 steward,
        address[] calldata keyholders,
        uint8 threshold,
        uint32 version,
        bytes32 description,
        uint64 deadline,
        bytes calldata signatures
    ) internal {
        _checkCommunity(steward, keyholders, threshold);
        uint32 current = _descriptionVersion[subject];
        uint32 expected = (current == 0 ? 1 : current) + 1;
        if (version != expected) revert WrongVersion(subject, expected, version);
        bytes32 structHash =
            keccak256(abi.encode(SET_DESCRIPTION_TYPEHASH, steward, subject, version, description, deadline));
        _checkSignatures(_digest(structHash), keyholders, threshold, signatures);
        _descriptionVersion[subject] = version;
        emit DescriptionSet(subject, steward, version, description);
    }

    /// @notice The current description version of a subject: 1 until a correction.
    function descriptionVersionOf(bytes32 subject) external view returns (uint32) {
        uint32 version = _descriptionVersion[subject];
        return version == 0 ? 1 : version;
    }

    // ---------------------------------------------------------------- custody

    /// @notice Record a custody event on an item: a stewardship transfer or a repatriation
    ///         (k of n of both communities), or a loan or its return (k of n of the steward).
    /// @param record        the item's registration record, checked against its stored digest
    /// @param action        CUSTODY_TRANSFER, CUSTODY_LOAN, CUSTODY_RETURN or CUSTODY_REPATRIATION
    /// @param counterparty  the receiving community (transfer, repatriation) or borrower id (loan)
    /// @param document      sha2-256 of the document describing the event
    /// @param nonce         the item's current custody nonce (replay protection)
    function recordCustody(
        bytes32 item,
        Record calldata record,
        uint8 action,
        bytes32 counterparty,
        bytes32 document,
        uint64 nonce,
        uint64 deadline,
        Party calldata steward,
        Party calldata receiver
    ) external {
        _checkDeadline(deadline);
        if (action == 0 || action > CUSTODY_REPATRIATION) revert UnknownCustodyAction(action);
        bytes32 current = _stewardOf(item, record);
        _checkCommunity(current, steward.keyholders, steward.threshold);
        uint64 expected = custodyNonce[item];
        if (nonce != expected) revert WrongNonce(expected, nonce);
        bytes32 digest = _digest(
            keccak256(
                abi.encode(RECORD_CUSTODY_TYPEHASH, item, action, current, counterparty, document, nonce, deadline)
            )
        );
        _checkSignatures(digest, steward.keyholders, steward.threshold, steward.signatures);
        if (action == CUSTODY_TRANSFER || action == CUSTODY_REPATRIATION) {
            _checkCommunity(counterparty, receiver.keyholders, receiver.threshold);
            _checkSignatures(digest, receiver.keyholders, receiver.threshold, receiver.signatures);
            stewardOverride[item] = counterparty;
        }
        custodyNonce[item] = expected + 1;
        emit CustodyRecorded(item, action, current, counterparty, document, nonce);
    }

    /// @notice The community that currently stewards a registered item, derivative or batch.
    function stewardOf(bytes32 key, Record calldata record) external view returns (bytes32) {
        return _stewardOf(key, record);
    }

    // ---------------------------------------------------------------- batches

    /// @notice The OpenZeppelin StandardMerkleTree leaf of a batch item.
    function batchLeaf(bytes32 item, bytes32 metadata, bytes32 commitment) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(item, metadata, commitment))));
    }

    /// @notice Whether an item (by content key) is part of `community`'s registered batch `root`.
    function isBatchItem(
        bytes32 community,
        bytes32 root,
        bytes32 item,
        bytes32 metadata,
        bytes32 commitment,
        bytes32[] calldata proof
    ) external view returns (bool) {
        return records[batchOf(community, root)] != bytes32(0)
            && _verifyProof(proof, root, batchLeaf(item, metadata, commitment));
    }

    /// @notice The digest that `records` stores for a record.
    function hashRecord(Record calldata record) external pure returns (bytes32) {
        return keccak256(abi.encode(record));
    }

    // ---------------------------------------------------------------- internals

    /// @dev keccak256(abi.encode(Record(...))) from the fields themselves: Record is a static
    ///      struct, so its encoding is that of its fields in order, and building it in memory
    ///      first only costs gas (~330 per registration).
    function _recordHash(
        bytes32 community,
        bytes32 metadata,
        bytes32 terms,
        bytes32 commitment,
        bytes32 parent,
        address registrant,
        uint64 registeredAt,
        uint8 kind
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(community, metadata, terms, commitment, parent, registrant, registeredAt, kind));
    }

    /// @dev The claim and content keys of a CID that `community` is about to claim: refuses an
    ///      empty CID and a claim made before (the claim key is the registration's replay
    ///      protection). Other communities' claims on the same content are no obstacle.
    function _newClaim(bytes32 community, bytes calldata cid) internal view returns (bytes32 claim, bytes32 content) {
        if (cid.length == 0) revert EmptyCid();
        content = keccak256(cid);
        assembly ("memory-safe") {
            mstore(0x00, community)
            mstore(0x20, content)
            claim := keccak256(0x00, 0x40)
        }
        if (records[claim] != bytes32(0)) revert AlreadyRegistered(claim);
    }

    /// @dev The rest of a registration once the deadline, the item key and the community's
    ///      keyholder set were checked; the n keyholders sit in calldata from `keysAt`, one
    ///      address every `stride` bytes.
    function _registerItem(
        bytes32 community,
        uint256 keysAt,
        uint256 stride,
        uint256 n,
        uint256 threshold,
        bytes calldata cid,
        bytes32 item,
        bytes32 content,
        bytes32 metadata,
        bytes32 terms,
        bytes32 commitment,
        uint64 deadline,
        bytes calldata signatures
    ) internal {
        bytes32 structHash =
            keccak256(abi.encode(REGISTER_ITEM_TYPEHASH, community, content, metadata, terms, commitment, deadline));
        _checkSignaturesAt(_digest(structHash), keysAt, stride, n, threshold, signatures);
        records[item] = _recordHash(
            community, metadata, terms, commitment, bytes32(0), msg.sender, uint64(block.timestamp), KIND_ITEM
        );
        emit ItemRegistered(item, community, content, cid, metadata, terms, commitment, msg.sender);
    }

    function _stewardOf(bytes32 key, Record calldata record) internal view returns (bytes32) {
        bytes32 stored = records[key];
        if (stored == bytes32(0)) revert UnknownRecord(key);
        bytes32 given;
        assembly ("memory-safe") {
            // keccak256(abi.encode(record)) over the eight words as they sit in calldata: stored
            // digests are made from clean values, so a word that is not one cannot match.
            let ptr := mload(0x40)
            calldatacopy(ptr, record, 0x100)
            given := keccak256(ptr, 0x100)
        }
        if (given != stored) revert RecordMismatch(key);
        bytes32 moved = stewardOverride[key];
        return moved == bytes32(0) ? record.community : moved;
    }

    function _currentVersion(TermsState storage state) internal view returns (uint32) {
        uint32 version = state.version;
        return version == 0 ? 1 : version;
    }

    function _revoke(
        bytes32 subject,
        bytes32 steward,
        address[] calldata keyholders,
        uint8 threshold,
        uint32 version,
        uint64 deadline,
        bytes calldata signatures
    ) internal {
        _checkDeadline(deadline);
        _checkCommunity(steward, keyholders, threshold);
        TermsState storage state = _terms[subject];
        uint32 current = _currentVersion(state);
        if (version != current) revert WrongVersion(subject, current, version);
        if (state.revoked) revert AlreadyRevoked(subject, version);
        bytes32 structHash = keccak256(abi.encode(REVOKE_TERMS_TYPEHASH, steward, subject, version, deadline));
        _checkSignatures(_digest(structHash), keyholders, threshold, signatures);
        state.version = version;
        state.revoked = true;
        state.updatedAt = uint64(block.timestamp);
        emit TermsRevoked(subject, steward, version);
    }

    function _digest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    function _checkDeadline(uint64 deadline) internal view {
        if (block.timestamp > deadline) revert DeadlineExpired(deadline, block.timestamp);
    }

    function _checkCommunity(bytes32 community, address[] calldata keyholders, uint8 threshold) internal view {
        bytes32 stored = communityConfig[community];
        if (stored == bytes32(0)) revert UnknownCommunity(community);
        if (_configHash(keyholders, threshold) != stored) revert KeyholdersMismatch(community);
    }

    /// @dev keccak256(abi.encode(keyholders, threshold)), with the keyholder words hashed as they
    ///      sit in calldata (~700 gas cheaper than abi.encode's element-by-element copy). Stored
    ///      hashes are only ever made from sets that _checkKeyholderSet validated, so a word that
    ///      is not a clean address can never reproduce one.
    function _configHash(address[] calldata keyholders, uint8 threshold) internal pure returns (bytes32 config) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let size := shl(5, keyholders.length)
            mstore(ptr, 0x40) // offset of the array in abi.encode(address[], uint8)
            mstore(add(ptr, 0x20), threshold)
            mstore(add(ptr, 0x40), keyholders.length)
            calldatacopy(add(ptr, 0x60), keyholders.offset, size)
            config := keccak256(ptr, add(0x60, size))
        }
    }

    /// @dev _configHash of n packed 20-byte addresses from calldata offset `start`, each widened to
    ///      the ABI word abi.encode gives it; the set is then checked against the stored hash.
    function _packedConfigHash(uint256 start, uint256 n, uint256 threshold) internal pure returns (bytes32 config) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, 0x40)
            mstore(add(ptr, 0x20), threshold)
            mstore(add(ptr, 0x40), n)
            let words := add(ptr, 0x60)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                mstore(add(words, shl(5, i)), shr(96, calldataload(add(start, mul(20, i)))))
            }
            config := keccak256(ptr, add(0x60, shl(5, n)))
        }
    }

    function _checkKeyholderSet(address[] calldata keyholders, uint8 threshold) internal pure {
        uint256 n = keyholders.length;
        if (threshold == 0 || threshold > n || n > MAX_KEYHOLDERS) revert InvalidThreshold(threshold, n);
        address previous = address(0);
        for (uint256 i = 0; i < n; ++i) {
            address key = keyholders[i];
            // Strictly increasing also rules out duplicates and the zero address.
            if (key <= previous) revert KeyholdersNotIncreasing(i, key);
            previous = key;
        }
    }

    /// @dev Signatures are packed 65-byte r‖s‖v, their signers strictly increasing and each
    ///      a keyholder. Replay protection lives in what is signed (item keys, versions,
    ///      nonces), never in signature bytes; high s and v other than 27/28 are refused, so
    ///      no accepted signature has a malleated twin.
    function _checkSignatures(bytes32 digest, address[] calldata keys, uint256 required, bytes calldata signatures)
        internal
        pure
    {
        _checkSignaturesAt(digest, _addressesAt(keys), 32, keys.length, required, signatures);
    }

    /// @dev Where the first address of an ABI-encoded address[] starts in calldata: an ABI
    ///      word holds an address in its low 20 bytes, from the word's 12th byte.
    function _addressesAt(address[] calldata keys) internal pure returns (uint256 start) {
        assembly ("memory-safe") {
            start := add(keys.offset, 12)
        }
    }

    /// @dev The n keyholders sit in calldata from `keysAt`, one address every `stride` bytes
    ///      (32 with `keysAt` at an ABI word's 12th byte; 20 when packed); the set was checked
    ///      against a stored hash (or validated) before.
    function _checkSignaturesAt(
        bytes32 digest,
        uint256 keysAt,
        uint256 stride,
        uint256 n,
        uint256 required,
        bytes calldata signatures
    ) internal pure {
        if (signatures.length % 65 != 0) revert InvalidSignatureLength(signatures.length);
        uint256 count = signatures.length / 65;
        if (count < required) revert NotEnoughSignatures(count, required);
        uint256 k = 0;
        for (uint256 i = 0; i < count; ++i) {
            bytes32 r;
            bytes32 s;
            uint8 v;
            assembly ("memory-safe") {
                let offset := add(signatures.offset, mul(i, 65))
                r := calldataload(offset)
                s := calldataload(add(offset, 32))
                v := byte(0, calldataload(add(offset, 64)))
            }
            if (uint256(s) > HALF_ORDER) revert SignatureHighS(i);
            if (v != 27 && v != 28) revert SignatureBadV(i, v);
            address signer = ecrecover(digest, v, r, s);
            if (signer == address(0)) revert SignatureInvalid(i);
            // Keyholders are sorted, so a forward scan both finds the signer and enforces
            // strictly increasing signers: a repeated or out-of-order signer is not found.
            assembly ("memory-safe") {
                for {} and(lt(k, n), iszero(eq(shr(96, calldataload(add(keysAt, mul(stride, k)))), signer))) {} {
                    k := add(k, 1)
                }
            }
            if (k == n) revert SignerNotKeyholder(i, signer);
            ++k;
        }
    }

    function _verifyProof(bytes32[] calldata proof, bytes32 root, bytes32 leaf) internal pure returns (bool) {
        bytes32 node = leaf;
        for (uint256 i = 0; i < proof.length; ++i) {
            bytes32 sibling = proof[i];
            node = node < sibling
                ? keccak256(abi.encodePacked(node, sibling))
                : keccak256(abi.encodePacked(sibling, node));
        }
        return node == root;
    }
}
