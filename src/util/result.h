// Result<T>: the one error-carrying return type of stowage. Every fallible
// function returns Result<T> (or Status = Result<void>); no exception crosses a
// layer boundary. An Error says what failed, on which object, and what to do.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace stowage {

enum class ErrorCode {
  kNotFound,         // the object/file does not exist
  kAlreadyExists,    // create-only write found the key present
  kInvalidArgument,  // bad input from the user or caller
  kCorrupt,          // data failed authentication or parsing
  kWrongKey,         // no key slot opens with the given password
  kPermissionDenied, // the backend or OS refused access
  kUnavailable,      // transient: timeouts, 5xx, throttling (retryable)
  kIo,               // local I/O failure
  kUnsupported,      // e.g. a newer repository format version
  kConflict,         // lock held by another process, concurrent change
  kLocked,           // refused by an object's retention (S3 Object Lock): retry after it ends
  kCancelled,
  kInternal,
};

const char* error_code_name(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message, std::string object = {}, std::string hint = {})
      : code_(code), message_(std::move(message)), object_(std::move(object)), hint_(std::move(hint)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& object() const { return object_; }
  const std::string& hint() const { return hint_; }

  // Adds outer context: "reading snapshot abc: <inner message>".
  Error&& with_context(const std::string& context) && {
    message_ = context + ": " + message_;
    return std::move(*this);
  }
  Error& set_hint(std::string hint) {
    hint_ = std::move(hint);
    return *this;
  }
  Error& set_object(std::string object) {
    if (object_.empty()) object_ = std::move(object);
    return *this;
  }

  // "message (object: X) — hint"
  std::string to_string() const;

 private:
  ErrorCode code_;
  std::string message_;
  std::string object_;
  std::string hint_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& { assert(!ok()); return std::get<1>(v_); }
  Error&& error() && { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& { assert(!ok_); return error_; }
  Error&& error() && { assert(!ok_); return std::move(error_); }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

using Status = Result<void>;

inline Status ok_status() { return Status(); }

}  // namespace stowage

// TRY(expr): evaluates a Result; on error returns the error from the enclosing
// function, otherwise yields the value (GNU statement expression, GCC and Clang).
#define STOWAGE_CONCAT_INNER(a, b) a##b
#define STOWAGE_CONCAT(a, b) STOWAGE_CONCAT_INNER(a, b)
#define TRY(expr)                                                       \
  ({                                                                    \
    auto&& STOWAGE_CONCAT(_r, __LINE__) = (expr);                       \
    if (!STOWAGE_CONCAT(_r, __LINE__).ok())                             \
      return std::move(STOWAGE_CONCAT(_r, __LINE__)).error();           \
    std::move(STOWAGE_CONCAT(_r, __LINE__)).value();                    \
  })
// TRY_STATUS(expr): for Status-returning expressions.
#define TRY_STATUS(expr)                                                \
  do {                                                                  \
    auto&& STOWAGE_CONCAT(_s, __LINE__) = (expr);                       \
    if (!STOWAGE_CONCAT(_s, __LINE__).ok())                             \
      return std::move(STOWAGE_CONCAT(_s, __LINE__)).error();           \
  } while (0)
