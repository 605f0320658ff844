//! Metering for bulk memory and table operators, whose work grows with an operand.
//!
//! wasmer's metering middleware charges every operator a fixed cost, but `memory.fill`,
//! `memory.copy`, `memory.init` and their table counterparts move as many bytes (or elements)
//! as their last operand says: at a fixed cost, a loop of 64 MiB fills would run for days on a
//! budget meant for seconds. This middleware runs after wasmer's and charges those operators
//! [`BULK_BYTES_PER_POINT`]-byte units of their length from the same budget, trapping (and
//! marking the budget exhausted, as wasmer's middleware does) when too little is left. The
//! length is 32-bit in every module the sandbox accepts (memory64 modules fail validation here).

use std::sync::Mutex;
use wasmer::sys::{FunctionMiddleware, MiddlewareError, MiddlewareReaderState, ModuleMiddleware};
use wasmer::wasmparser::{BlockType, Operator};
use wasmer::{
    ExportIndex, GlobalInit, GlobalType, LocalFunctionIndex, ModuleInfo, Mutability, Type,
};

/// Bytes (or table elements) of a bulk operator that cost one metering point (a power of two).
/// At [`super::limits::POINTS_PER_MS`] points per millisecond that is some 30 MB per
/// millisecond, about what a CPU fills or copies in that time: a budget lasts about as long
/// for bulk work as for any other.
pub const BULK_BYTES_PER_POINT: u32 = 1;

/// The globals this middleware uses: wasmer's remaining points and exhausted flag, and a
/// scratch slot that holds the length while the cost is charged.
#[derive(Debug, Clone, Copy)]
struct Globals {
    remaining: u32,
    exhausted: u32,
    scratch: u32,
}

/// The module middleware. Like wasmer's metering middleware, it serves one module compile.
#[derive(Debug, Default)]
pub(crate) struct BulkMetering {
    globals: Mutex<Option<Globals>>,
}

impl ModuleMiddleware for BulkMetering {
    fn generate_function_middleware<'a>(
        &self,
        _: LocalFunctionIndex,
    ) -> Box<dyn FunctionMiddleware<'a> + 'a> {
        Box::new(FunctionBulkMetering {
            globals: self.globals.lock().ok().and_then(|g| *g),
        })
    }

    fn transform_module_info(&self, info: &mut ModuleInfo) -> Result<(), MiddlewareError> {
        let global = |name: &str| match info.exports.get(name) {
            Some(ExportIndex::Global(g)) => Ok(g.as_u32()),
            _ => Err(MiddlewareError::new(
                "BulkMetering",
                format!(
                    "runs after wasmer's metering middleware, whose global `{name}` is missing"
                ),
            )),
        };
        let remaining = global("wasmer_metering_remaining_points")?;
        let exhausted = global("wasmer_metering_points_exhausted")?;
        let scratch = info
            .globals
            .push(GlobalType::new(Type::I32, Mutability::Var))
            .as_u32();
        info.global_initializers.push(GlobalInit::I32Const(0));
        let mut g = self
            .globals
            .lock()
            .map_err(|_| MiddlewareError::new("BulkMetering", "poisoned lock"))?;
        *g = Some(Globals {
            remaining,
            exhausted,
            scratch,
        });
        Ok(())
    }
}

#[derive(Debug)]
struct FunctionBulkMetering {
    globals: Option<Globals>,
}

/// Whether `op` is a bulk operator whose last operand (an `i32` count) measures its work.
fn is_bulk(op: &Operator) -> bool {
    matches!(
        op,
        Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
            | Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. }
    )
}

impl<'a> FunctionMiddleware<'a> for FunctionBulkMetering {
    fn feed(
        &mut self,
        operator: Operator<'a>,
        state: &mut MiddlewareReaderState<'a>,
    ) -> Result<(), MiddlewareError> {
        let (Some(g), true) = (self.globals, is_bulk(&operator)) else {
            state.push_operator(operator);
            return Ok(());
        };
        let shift = i64::from(BULK_BYTES_PER_POINT.trailing_zeros());
        let cost = [
            Operator::GlobalGet {
                global_index: g.scratch,
            },
            Operator::I64ExtendI32U,
            Operator::I64Const { value: shift },
            Operator::I64ShrU,
        ];
        // len -> scratch; if remaining < cost { exhausted = 1; trap }; remaining -= cost;
        // scratch -> len; the operator.
        state.extend(&[Operator::GlobalSet {
            global_index: g.scratch,
        }]);
        state.extend(&[Operator::GlobalGet {
            global_index: g.remaining,
        }]);
        state.extend(&cost);
        state.extend(&[
            Operator::I64LtU,
            Operator::If {
                blockty: BlockType::Empty,
            },
            Operator::I32Const { value: 1 },
            Operator::GlobalSet {
                global_index: g.exhausted,
            },
            Operator::Unreachable,
            Operator::End,
            Operator::GlobalGet {
                global_index: g.remaining,
            },
        ]);
        state.extend(&cost);
        state.extend(&[
            Operator::I64Sub,
            Operator::GlobalSet {
                global_index: g.remaining,
            },
            Operator::GlobalGet {
                global_index: g.scratch,
            },
        ]);
        state.push_operator(operator);
        Ok(())
    }
}
