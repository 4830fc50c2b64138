use couponcactus_chaincode::prelude::*;
use couponcactus_chaincode::testkit::*;
use std::time::Instant;
#[test]
fn probe() {
    let k = key(1);
    let mut chain = TestChain::new();
    let t = Instant::now();
    let txs: Vec<SignedTx> = (0..200)
        .map(|i| {
            chain.sign(
                &k,
                TxKind::RevokeKey(RevokeKeyTx {
                    key: PublicKey([i as u8; 32]),
                }),
            )
        })
        .collect();
    eprintln!("sign 200: {:?}", t.elapsed());
    let t = Instant::now();
    let p: Vec<_> = txs
        .iter()
        .map(couponcactus_chaincode::tx::PreparedTx::new)
        .collect();
    let v = couponcactus_chaincode::tx::verify_signatures(&p);
    eprintln!("verify 200: {:?} {}", t.elapsed(), v.len());
    let t = Instant::now();
    let out = execute_block(&chain.state, &chain.next_ctx(), &txs).unwrap();
    eprintln!("exec 200: {:?} {}", t.elapsed(), out.results.len());
}
