//! Promises for work done on the runtime, settled on the JS thread through one threadsafe function
//! per JS thread. napi's `spawn_future_with_callback` makes a threadsafe function for every
//! promise (a libuv handle opened and closed, an env cleanup hook added and removed); here that is
//! made once. Results queue at the JS thread's door, and only the first of a batch calls the
//! threadsafe function: the JS thread takes the whole batch at one wake-up with one lock, instead
//! of napi's queue locked (and fought over with the runtime's threads) once per result.
//!
//! The threadsafe function keeps the event loop alive only while one of its promises is pending,
//! as napi's own does (each of its functions lives as long as its one promise). Results that
//! arrive after their environment was torn down (a worker thread that exited) are dropped.

use napi::bindgen_prelude::{PromiseRaw, ToNapiValue};
use napi::{Env, sys};
use std::cell::RefCell;
use std::ffi::c_void;
use std::future::Future;
use std::ptr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// Settles its deferred on the JS thread, with the result converted there.
type Settle = Box<dyn FnOnce(sys::napi_env, sys::napi_deferred) + Send>;

struct Completion {
    deferred: Deferred,
    settle: Settle,
}

struct Deferred(sys::napi_deferred);

// Only used on its JS thread, in `settle_on_js_thread`; other threads just carry it.
unsafe impl Send for Deferred {}

/// The way results go back to a JS thread. Locked around each call of the threadsafe function, so
/// teardown cannot free the function under a caller.
struct Door(Mutex<DoorState>);

struct DoorState {
    /// `None` once the environment is torn down.
    tsfn: Option<ThreadsafeFunction>,
    /// Results the JS thread has not taken yet. The threadsafe function is called when the first
    /// joins an empty queue; later ones only join it, until the JS thread takes them all.
    queue: Vec<Completion>,
}

struct ThreadsafeFunction(sys::napi_threadsafe_function);

// napi_call_threadsafe_function may be called from any thread.
unsafe impl Send for ThreadsafeFunction {}

impl Door {
    fn lock(&self) -> std::sync::MutexGuard<'_, DoorState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, completion: Completion) {
        let mut state = self.lock();
        let Some(tsfn) = state.tsfn.as_ref() else { return };
        if state.queue.is_empty() {
            let status =
                unsafe { sys::napi_call_threadsafe_function(tsfn.0, ptr::null_mut(), sys::ThreadsafeFunctionCallMode::nonblocking) };
            if status != sys::Status::napi_ok {
                // Closing: the promise goes with its environment.
                return;
            }
        }
        state.queue.push(completion);
    }

    /// The queued results, all of them.
    fn take(&self) -> Vec<Completion> {
        std::mem::take(&mut self.lock().queue)
    }
}

/// One JS thread's settler: its door and how many of its promises are pending.
struct Settler {
    env: sys::napi_env,
    tsfn: sys::napi_threadsafe_function,
    door: Arc<Door>,
    pending: std::cell::Cell<usize>,
}

thread_local! {
    /// The settler of the environment running on this thread (Node runs one per thread).
    static SETTLER: RefCell<Option<Rc<Settler>>> = const { RefCell::new(None) };
}

fn settler(env: sys::napi_env) -> napi::Result<Rc<Settler>> {
    if let Some(s) = SETTLER.with_borrow(|s| s.clone()).filter(|s| s.env == env) {
        return Ok(s);
    }
    let mut name = ptr::null_mut();
    let label = c"dapr-rs settle";
    check(unsafe { sys::napi_create_string_utf8(env, label.as_ptr(), label.count_bytes() as isize, &mut name) })?;
    let mut tsfn = ptr::null_mut();
    check(unsafe {
        sys::napi_create_threadsafe_function(
            env,
            ptr::null_mut(),
            ptr::null_mut(),
            name,
            0,
            1,
            ptr::null_mut(),
            None,
            ptr::null_mut(),
            Some(settle_on_js_thread),
            &mut tsfn,
        )
    })?;
    // Idle until a promise is pending (`track`).
    check(unsafe { sys::napi_unref_threadsafe_function(env, tsfn) })?;
    let door = Arc::new(Door(Mutex::new(DoorState { tsfn: Some(ThreadsafeFunction(tsfn)), queue: Vec::new() })));
    // Before Node finalizes the function at teardown (hooks run in reverse order of registration):
    // a result arriving later finds the door shut instead of a freed function.
    let hook_arg = Arc::into_raw(door.clone()).cast_mut().cast();
    check(unsafe { sys::napi_add_env_cleanup_hook(env, Some(shut_door), hook_arg) })?;
    let s = Rc::new(Settler { env, tsfn, door, pending: std::cell::Cell::new(0) });
    SETTLER.set(Some(s.clone()));
    Ok(s)
}

unsafe extern "C" fn shut_door(arg: *mut c_void) {
    let door = unsafe { Arc::from_raw(arg.cast_const().cast::<Door>()) };
    let mut state = door.lock();
    state.queue.clear();
    if let Some(tsfn) = state.tsfn.take() {
        unsafe { sys::napi_release_threadsafe_function(tsfn.0, sys::ThreadsafeFunctionReleaseMode::abort) };
    }
    let _ = SETTLER.try_with(|s| s.take());
}

impl Settler {
    /// One more pending promise: the loop stays alive until it settles.
    fn track(&self) -> napi::Result<()> {
        if self.pending.get() == 0 {
            check(unsafe { sys::napi_ref_threadsafe_function(self.env, self.tsfn) })?;
        }
        self.pending.set(self.pending.get() + 1);
        Ok(())
    }

    fn settled(&self, count: usize) {
        let left = self.pending.get().saturating_sub(count);
        self.pending.set(left);
        if left == 0 {
            unsafe { sys::napi_unref_threadsafe_function(self.env, self.tsfn) };
        }
    }
}

unsafe extern "C" fn settle_on_js_thread(env: sys::napi_env, _js_callback: sys::napi_value, _context: *mut c_void, _data: *mut c_void) {
    // A null env: the function is being finalized; the door was shut first.
    if env.is_null() {
        return;
    }
    let Some(settler) = SETTLER.with_borrow(|s| s.clone()).filter(|s| s.env == env) else { return };
    let batch = settler.door.take();
    let count = batch.len();
    for completion in batch {
        // Each result's values are freed as it is settled, not with the whole batch.
        let mut scope = ptr::null_mut();
        let opened = unsafe { sys::napi_open_handle_scope(env, &mut scope) } == sys::Status::napi_ok;
        (completion.settle)(env, completion.deferred.0);
        if opened {
            unsafe { sys::napi_close_handle_scope(env, scope) };
        }
    }
    settler.settled(count);
}

/// A Promise of `work`'s result, run on the runtime; `T` is converted on the JS thread, and an
/// error becomes `reject`'s value.
pub fn spawn_promise<'env, T, E, F, R>(env: &'env Env, work: F, reject: R) -> napi::Result<PromiseRaw<'env, T>>
where
    T: ToNapiValue + Send + 'static,
    E: Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    R: FnOnce(&Env, E) -> napi::Error + Send + 'static,
{
    let raw_env = env.raw();
    let settler = settler(raw_env)?;
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    check(unsafe { sys::napi_create_promise(raw_env, &mut deferred, &mut promise) })?;
    settler.track()?;
    let unsettled = Unsettled { door: settler.door.clone(), deferred: Some(Deferred(deferred)) };
    napi::bindgen_prelude::spawn(async move {
        let outcome = work.await;
        unsettled.send(Box::new(move |env, deferred| match outcome {
            Ok(value) => match unsafe { T::to_napi_value(env, value) } {
                Ok(value) => unsafe {
                    sys::napi_resolve_deferred(env, deferred, value);
                },
                Err(err) => reject_with(env, deferred, err),
            },
            Err(err) => reject_with(env, deferred, reject(&Env::from_raw(env), err)),
        }));
    });
    Ok(PromiseRaw::new(raw_env, promise))
}

fn reject_with(env: sys::napi_env, deferred: sys::napi_deferred, err: napi::Error) {
    unsafe {
        let reason = napi::Error::to_napi_value(env, err).unwrap_or_else(|err| napi::JsError::from(err).into_value(env));
        sys::napi_reject_deferred(env, deferred, reason);
    }
}

/// A promise's deferred until its result is sent. Dropped unsent (the work panicked, or the
/// runtime dropped it), it rejects the promise: otherwise its caller would wait forever, and the
/// event loop, held open while a promise is pending, would never let the process exit.
struct Unsettled {
    door: Arc<Door>,
    deferred: Option<Deferred>,
}

impl Unsettled {
    fn send(mut self, settle: Settle) {
        if let Some(deferred) = self.deferred.take() {
            self.door.send(Completion { deferred, settle });
        }
    }
}

impl Drop for Unsettled {
    fn drop(&mut self) {
        if let Some(deferred) = self.deferred.take() {
            let reason = if std::thread::panicking() { "the dapr-rs call panicked" } else { "the dapr-rs call was dropped" };
            let settle: Settle = Box::new(move |env, deferred| reject_with(env, deferred, napi::Error::from_reason(reason)));
            self.door.send(Completion { deferred, settle });
        }
    }
}

fn check(status: sys::napi_status) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::new(napi::Status::from(status), "dapr-rs could not set up a promise".to_owned()))
    }
}
