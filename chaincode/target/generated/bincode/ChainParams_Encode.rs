impl :: bincode :: Encode for ChainParams
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        :: bincode :: Encode :: encode(&self.max_batch_codes, encoder) ?; ::
        bincode :: Encode :: encode(&self.max_tx_validity_ms, encoder) ?; ::
        bincode :: Encode :: encode(&self.proposal_ttl_ms, encoder) ?; ::
        bincode :: Encode :: encode(&self.max_sealed_code_bytes, encoder) ?;
        core :: result :: Result :: Ok(())
    }
}