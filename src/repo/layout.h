// Repository layout: the one place that decides where each repository object
// lives in the object store. No other code builds keys by concatenation.
//
//   config                       repository config (written once at init)
//   keys/<id>                    key slots: the master key wrapped by a password
//   data/<id[0:2]>/<id>          pack files (data and tree packs)
//   index/<id>                   index objects (which blob is in which pack)
//   snapshots/<id>               snapshot manifests
//   locks/<id>                   lock objects (created and deleted, never rewritten)
//   tombstones/<id>              keys deleted logically but still locked (v2, Object Lock)
//   retention/<id>               records of retention refreshes (v2, Object Lock)
#pragma once

#include <string>

#include "repo/blob.h"

namespace stowage::layout {

inline constexpr const char* kConfig = "config";
inline constexpr const char* kKeysPrefix = "keys/";
inline constexpr const char* kDataPrefix = "data/";
inline constexpr const char* kIndexPrefix = "index/";
inline constexpr const char* kSnapshotsPrefix = "snapshots/";
inline constexpr const char* kLocksPrefix = "locks/";
inline constexpr const char* kTombstonesPrefix = "tombstones/";
inline constexpr const char* kRetentionPrefix = "retention/";

std::string key_slot(const std::string& id);
std::string pack(const ObjectId& id);
std::string index(const ObjectId& id);
std::string snapshot(const ObjectId& id);
std::string lock(const std::string& id);
std::string tombstone(const ObjectId& id);
std::string retention_record(const ObjectId& id);

// The id at the end of a key ("data/ab/abcd…" → "abcd…").
std::string id_of(const std::string& key);

}  // namespace stowage::layout
